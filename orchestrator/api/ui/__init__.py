"""The live dashboard at /ui: a login form, a cookie session, a state feed and static pages."""
