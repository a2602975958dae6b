"""The domain core every door and controller stands on: store, models, context, lifecycle, placing."""
