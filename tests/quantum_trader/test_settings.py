"""Settings: secrets from files, never in a repr."""

from __future__ import annotations

from quantum_trader.settings import Settings


def _settings(**overrides: object) -> Settings:
    return Settings(_env_file=None, **overrides)  # type: ignore[arg-type]


def test_settings_secret_file_variant_and_no_secret_in_repr(tmp_path) -> None:  # noqa: ANN001
    secret_file = tmp_path / "secret"
    secret_file.write_text("s3cr3t-value\n")
    settings = _settings(binance_api_key="key-value", binance_api_secret_file=str(secret_file))
    assert settings.binance_credentials == ("key-value", "s3cr3t-value")
    assert "s3cr3t-value" not in repr(settings) and "key-value" not in repr(settings)
