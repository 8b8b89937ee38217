"""The local side: HTTP client of the token service, keychain storage, refresh under a
cross-process lock, the SDK for desktop apps.

Nothing here yet: later issues build it (see DESIGN.md).
"""
