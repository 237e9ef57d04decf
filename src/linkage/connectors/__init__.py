"""Connectors read agency extracts through declarative mappings.

One connector per source, each in its own file behind ``Connector``.
"""

from linkage.connectors.base import Connector, ParsedRow
from linkage.connectors.ingest import IngestResult, ingest_file, ingest_files
from linkage.connectors.mapping import Mapping, default_mapping_path, load_mapping
from linkage.connectors.readers import ConnectorError
from linkage.connectors.registry import CONNECTORS

__all__ = [
    "CONNECTORS",
    "Connector",
    "ConnectorError",
    "IngestResult",
    "Mapping",
    "ParsedRow",
    "default_mapping_path",
    "ingest_file",
    "ingest_files",
    "load_mapping",
]
