"""SCIM and Genesys constants shared by the client and the emulator.

Kept in one place so that the emulator and the client cannot drift apart on a
URN or an attribute name: a typo in either would silently disagree with Genesys.
"""

CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
CORE_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE_USER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
GENESYS_USER = "urn:ietf:params:scim:schemas:extension:genesys:purecloud:2.0:User"
LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
SERVICE_PROVIDER_CONFIG = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
RESOURCE_TYPE = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Schema"

USER_SCHEMAS = [CORE_USER, ENTERPRISE_USER, GENESYS_USER]
EXTENSIONS = (ENTERPRISE_USER, GENESYS_USER)

SCIM_PREFIX = "/api/v2/scim/v2"

# Genesys documents that pages over 25 may be refused unless attributes are trimmed.
DEFAULT_PAGE_SIZE = 25
