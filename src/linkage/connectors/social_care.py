"""Children's social care: CIN census and SSDA903 with a case-management export."""

from linkage.connectors.base import Connector

__all__ = ["SocialCareConnector"]


class SocialCareConnector(Connector):
    source = "social_care"
