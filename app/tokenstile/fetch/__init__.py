"""Outbound fetches of the server side (an adapter, in the layer of ``store | broker |
virtual``): ``http.HttpFetcher`` gets CRLs and OCSP answers for
``factors.piv_revocation``, bounded in time, size and scheme.
"""
