"""The kit's Starlette apps: the public one (callbacks) and the internal one (staff)."""
