"""Typed settings read from the environment, through a cached ``get_settings()``.

Nothing is read at import time, so tests override settings by clearing the cache.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "get_settings"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LINKAGE_", extra="ignore")

    home: Path = Field(default=Path(".linkage"), description="Data directory.")
    # Production supplies the key from a secret store; otherwise one is made on first run.
    db_key: SecretStr | None = None
    memory_limit: str = "6GB"
    threads: int | None = None
    match_threshold: float = Field(default=0.95, gt=0.5, lt=1.0)
    review_lower: float = Field(default=0.5, gt=0.0, lt=1.0)

    @field_validator("db_key")
    @classmethod
    def _strong_key(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and len(v.get_secret_value()) < 32:
            raise ValueError("LINKAGE_DB_KEY must be at least 32 characters")
        return v


@lru_cache
def get_settings() -> Settings:
    # LINKAGE_HOME is the documented variable; pydantic maps it to ``home``.
    return Settings()


def data_dir(override: Path | None = None) -> Path:
    """The data directory: explicit flag, else LINKAGE_HOME, else ./.linkage."""
    if override is not None:
        return Path(override)
    env = os.environ.get("LINKAGE_HOME")
    return Path(env) if env else get_settings().home
