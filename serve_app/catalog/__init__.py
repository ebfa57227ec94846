"""The model catalog: schema (``schema``), lifecycle rules (``lifecycle``) and the operator's command line
(``python -m serve_app.catalog validate|diff|apply|serve-config FILE``)."""

from serve_app.catalog.schema import (
    EMBEDDING_ENGINES,
    Autoscaling,
    Capability,
    Catalog,
    Lifecycle,
    ModelEntry,
    Pricing,
    Resources,
    UseCase,
    load_catalog,
)

__all__ = ["EMBEDDING_ENGINES", "Autoscaling", "Capability", "Catalog", "Lifecycle", "ModelEntry", "Pricing",
           "Resources", "UseCase", "load_catalog"]
