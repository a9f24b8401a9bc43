"""The entity types the sandbox serves, as Microsoft's beta metadata declares them.

A small, typed picture of the ``microsoft.graph.industryData`` namespace (the CSDL in
microsoftgraph/msgraph-metadata, ``schemas/beta-Prod.csdl``, cross-checked with the beta Python
SDK's models) — just what the query engine (:mod:`.odata`) needs to check and evaluate
``$filter``, ``$orderby``, ``$select`` and ``$expand``: property names and their EDM kinds, enum
members in declaration order (OData orders and compares enums by member value), complex
types, and navigation properties. Plus the seed's draft ``microsoft.industryData.run``.

Pure data; no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

# How a property's value is compared and sorted (see odata.py):
#   String, Date — as text; DateTimeOffset — in time order, whatever the offset;
#   Enum — by member value; Complex — only "eq/ne null" in $filter, member by member in $orderby;
#   Json — an open value (the seed's statistics): selectable only.
Kind = Literal["String", "DateTimeOffset", "Date", "Enum", "Complex", "Json", "Collection"]

NAMESPACE = "microsoft.graph.industryData"


@dataclass(frozen=True)
class EnumType:
    name: str  # qualified, e.g. microsoft.graph.industryData.industryDataRunStatus
    members: tuple[str, ...]  # in declaration order: the member's value is its index

    def member(self, text: str) -> str | None:
        """The member named *text* (any case), or None."""
        lowered = text.lower()
        return next((m for m in self.members if m.lower() == lowered), None)

    def value(self, member: str) -> int:
        return self.members.index(member)


@dataclass(frozen=True)
class ComplexType:
    name: str
    properties: tuple[Property, ...]
    open: bool = False  # OpenType="true": other keys may appear (publicInnerError)

    def property(self, name: str) -> Property | None:
        return _find(self.properties, name)


@dataclass(frozen=True)
class Property:
    name: str
    kind: Kind
    enum: EnumType | None = None
    complex: ComplexType | None = None

    @property
    def edm_type(self) -> str:
        """The type's name as OData error messages write it."""
        if self.enum is not None:
            return self.enum.name
        if self.complex is not None:
            return self.complex.name
        return {"Json": "Edm.Untyped", "Collection": "Collection"}.get(self.kind, f"Edm.{self.kind}")


@dataclass(frozen=True)
class Navigation:
    name: str
    target: str  # the name of an EntityType in TYPES
    collection: bool


@dataclass(frozen=True)
class EntityType:
    name: str  # qualified
    properties: tuple[Property, ...]
    navigations: tuple[Navigation, ...] = ()
    # Navigations the metadata declares that the sandbox does not serve: $expand says so.
    unserved: tuple[str, ...] = field(default=())

    def property(self, name: str) -> Property | None:
        return _find(self.properties, name)

    def navigation(self, name: str) -> Navigation | None:
        lowered = name.lower()
        return next((n for n in self.navigations if n.name.lower() == lowered), None)

    def unserved_navigation(self, name: str) -> str | None:
        lowered = name.lower()
        return next((n for n in self.unserved if n.lower() == lowered), None)


def _find(properties: tuple[Property, ...], name: str) -> Property | None:
    """Property names match in any case, as on Graph."""
    lowered = name.lower()
    return next((p for p in properties if p.name.lower() == lowered), None)


def _enum(name: str, *members: str) -> EnumType:
    return EnumType(f"{NAMESPACE}.{name}", members)


RUN_STATUS = _enum(
    "industryDataRunStatus",
    "running", "failed", "completed", "completedWithErrors", "completedWithWarnings", "unknownFutureValue",
)
ACTIVITY_STATUS = _enum(
    "industryDataActivityStatus",
    "inProgress", "skipped", "failed", "completed", "completedWithErrors", "completedWithWarnings",
    "unknownFutureValue",
)
READINESS_STATUS = _enum(
    "readinessStatus", "notReady", "ready", "failed", "disabled", "expired", "unknownFutureValue"
)
INBOUND_DOMAIN = _enum("inboundDomain", "educationRostering", "unknownFutureValue")


def _strings(*names: str) -> tuple[Property, ...]:
    return tuple(Property(name, "String") for name in names)


PUBLIC_INNER_ERROR = ComplexType(
    "microsoft.graph.publicInnerError",
    (*_strings("code", "message", "target"), Property("details", "Collection")),
    open=True,
)
PUBLIC_ERROR = ComplexType(
    "microsoft.graph.publicError",
    (
        *_strings("code", "message", "target"),
        Property("details", "Collection"),
        Property("innerError", "Complex", complex=PUBLIC_INNER_ERROR),
    ),
)
REFERENCE_VALUE = _strings("code")  # referenceValue: code (+ the navigation `value`, not served)
FILE_FORMAT = ComplexType(f"{NAMESPACE}.fileFormatReferenceValue", REFERENCE_VALUE)
YEAR_REFERENCE = ComplexType(f"{NAMESPACE}.yearReferenceValue", REFERENCE_VALUE)

_ID = Property("id", "String")
_RUN_PROPERTIES = (
    _ID,
    Property("blockingError", "Complex", complex=PUBLIC_ERROR),
    Property("displayName", "String"),
    Property("endDateTime", "DateTimeOffset"),
    Property("startDateTime", "DateTimeOffset"),
    Property("status", "Enum", enum=RUN_STATUS),
)

RUN = EntityType(
    f"{NAMESPACE}.industryDataRun",
    _RUN_PROPERTIES,
    (Navigation("activities", "industryDataRunActivity", collection=True),),
)
SEED_RUN = EntityType("microsoft.industryData.run", (*_RUN_PROPERTIES, Property("statistics", "Json")))
ACTIVITY = EntityType(
    f"{NAMESPACE}.industryDataRunActivity",
    (
        _ID,
        Property("blockingError", "Complex", complex=PUBLIC_ERROR),
        Property("displayName", "String"),
        Property("status", "Enum", enum=ACTIVITY_STATUS),
    ),
    (Navigation("activity", "inboundFlow", collection=False),),
)
FLOW = EntityType(
    f"{NAMESPACE}.inboundFlow",
    (
        _ID,
        Property("displayName", "String"),
        Property("readinessStatus", "Enum", enum=READINESS_STATUS),
        Property("dataDomain", "Enum", enum=INBOUND_DOMAIN),
        Property("effectiveDateTime", "DateTimeOffset"),
        Property("expirationDateTime", "DateTimeOffset"),
    ),
    (
        Navigation("dataConnector", "industryDataConnector", collection=False),
        Navigation("year", "yearTimePeriodDefinition", collection=False),
    ),
)
CONNECTOR = EntityType(
    f"{NAMESPACE}.industryDataConnector",
    (_ID, Property("displayName", "String"), Property("fileFormat", "Complex", complex=FILE_FORMAT)),
    unserved=("sourceSystem",),
)
YEAR = EntityType(
    f"{NAMESPACE}.yearTimePeriodDefinition",
    (
        _ID,
        Property("displayName", "String"),
        Property("startDate", "Date"),
        Property("endDate", "Date"),
        Property("year", "Complex", complex=YEAR_REFERENCE),
    ),
)
ROOT = EntityType(
    f"{NAMESPACE}.industryDataRoot",
    (_ID,),
    (
        Navigation("runs", "industryDataRun", collection=True),
        Navigation("inboundFlows", "inboundFlow", collection=True),
        Navigation("dataConnectors", "industryDataConnector", collection=True),
        Navigation("years", "yearTimePeriodDefinition", collection=True),
    ),
    unserved=(
        "operations", "outboundProvisioningFlowSets", "referenceDefinitions", "roleGroups", "sourceSystems"
    ),
)

TYPES: dict[str, EntityType] = {
    entity.name.rsplit(".", 1)[1]: entity for entity in (RUN, ACTIVITY, FLOW, CONNECTOR, YEAR, ROOT)
}


def target(navigation: Navigation) -> EntityType:
    return TYPES[navigation.target]
