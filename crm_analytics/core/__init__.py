"""The ground floor: errors, the settings resolver, the canonical schema, ``DealerData``, files.

Every other layer imports from here; this layer imports no other.
"""
