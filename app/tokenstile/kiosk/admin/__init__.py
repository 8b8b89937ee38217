"""The admin console (``tokenstile admin``): an admin signs in with their own key, card or
code, then finds and adds people, enrolls keys, cards, apps and fobs, revokes credentials
and sessions, and browses and exports the audit log — over the admin HTTP API only.

Entry point: :func:`tokenstile.kiosk.admin.console.run_admin_console`.
"""
