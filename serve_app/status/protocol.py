"""Request bodies of the status admin API (incidents and maintenance windows)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    # Lenient types (serve_app/http.py validates other bodies strictly): times may come as UNIX seconds.
    model_config = ConfigDict(extra="forbid", strict=False)


class UpdateIncidentRequest(_Strict):
    title: str = Field(min_length=1, max_length=200, description="The incident's public title.")


class CreateIncidentUpdateRequest(_Strict):
    message: str = Field(min_length=1, max_length=5000, description="What the operator tells the users.")
    status: Literal["investigating", "identified", "monitoring", "update", "resolved"] = Field(
        default="update", description="The stage of the incident this update reports (shown with it).")


class CreateMaintenanceRequest(_Strict):
    title: str = Field(min_length=1, max_length=200, description="What the maintenance is about (public).")
    models: list[str] = Field(default_factory=list, max_length=500,
                              description="The model ids it concerns; empty or left out: every model.")
    starts_at: dt.datetime = Field(description="Start: an ISO 8601 time (UTC when no offset is given) or "
                                               "UNIX seconds.")
    ends_at: dt.datetime = Field(description="End, after the start and in the future.")

    @model_validator(mode="after")
    def _ordered(self) -> CreateMaintenanceRequest:
        if self.ends_at_unix <= self.starts_at_unix:
            raise ValueError("`ends_at` must come after `starts_at`")
        return self

    @property
    def starts_at_unix(self) -> float:
        return _unix(self.starts_at)

    @property
    def ends_at_unix(self) -> float:
        return _unix(self.ends_at)


def _unix(moment: dt.datetime) -> float:
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).timestamp()
