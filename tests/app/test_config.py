"""Every setting is documented, and docs/configuration.md is the generated, current table."""

from pathlib import Path

import pytest

from app.config import Settings, settings_markdown

ROOT = Path(__file__).resolve().parents[2]


def test_every_setting_has_a_description():
    from pydantic import BaseModel

    def check(model):
        for name, field in model.model_fields.items():
            if isinstance(field.default, BaseModel):
                check(type(field.default))
            else:
                assert field.description, f"{model.__name__}.{name} has no description"

    check(Settings)


def test_configuration_doc_is_up_to_date():
    doc = (ROOT / "docs" / "configuration.md").read_text()
    assert doc == settings_markdown(), "run: python -m app.config > docs/configuration.md"


def test_environment_overrides_and_defaults(monkeypatch):
    assert Settings().host == "127.0.0.1", "binds loopback unless told otherwise"
    monkeypatch.setenv("TORCHPLAY_PORT", "9001")
    monkeypatch.setenv("TORCHPLAY_MLP__MAX_POINTS", "123")
    settings = Settings()
    assert settings.port == 9001 and settings.mlp.max_points == 123


def test_invalid_settings_are_refused(monkeypatch):
    monkeypatch.setenv("TORCHPLAY_FPS", "0")
    with pytest.raises(ValueError):
        Settings()
