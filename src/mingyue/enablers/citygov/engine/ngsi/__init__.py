"""NGSI-LD (ETSI GS CIM 009) in pure Python: JSON-LD terms, entities, q-language, geo, schemas.

Nothing here touches the database or the network: the service layer feeds documents in and
stores what comes out. Entities are held *expanded* (full IRIs for types and attribute names)
and compacted on output against the caller's ``@context``.
"""
