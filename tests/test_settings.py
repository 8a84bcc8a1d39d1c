from __future__ import annotations

from pathlib import Path

import pytest

from portal.app import create_app
from portal.datamap import load_datamap
from portal.demo import DATAMAP_PATH
from portal.settings import Settings, SettingsError, served_base_url
from portal.workflows.erasure_run import require_pseudonym_key


def build(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env({"PORTAL_VAR_DIR": str(tmp_path), **env})


def test_development_defaults(tmp_path: Path) -> None:
    settings = build(tmp_path)
    assert settings.env == "development"
    assert settings.database_url == f"sqlite:///{tmp_path / 'innsyn.db'}"
    assert settings.oidc_national_id_claim == "nnin"
    assert settings.mock_idp_mounted
    assert settings.oidc_discovery_url == (
        "http://127.0.0.1:8000/mock-idp/.well-known/openid-configuration"
    )
    assert settings.oidc_client_id == "innsyn-portal"


def test_development_secret_key_is_generated_once_and_kept(tmp_path: Path) -> None:
    first = build(tmp_path).secret_key
    second = build(tmp_path).secret_key
    assert len(first) >= 32
    assert first == second
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PORTAL_ENV": "staging"}, "PORTAL_ENV must be one of development, production"),
        ({"PORTAL_ENV": "production"}, "OIDC_DISCOVERY_URL is required"),
        (
            {
                "PORTAL_ENV": "production",
                "OIDC_DISCOVERY_URL": "https://idp.example/.well-known",
                "PORTAL_BASE_URL": "https://innsyn.example",
            },
            "SECRET_KEY is required",
        ),
        (
            {
                "PORTAL_ENV": "production",
                "OIDC_DISCOVERY_URL": "https://idp.example/.well-known",
                "PORTAL_BASE_URL": "https://innsyn.example",
                "SECRET_KEY": "x" * 40,
            },
            "OIDC_CLIENT_ID is required",
        ),
        # Production runs on https only: the default http://127.0.0.1:8000 is refused too.
        (
            {"PORTAL_ENV": "production", "OIDC_DISCOVERY_URL": "https://idp.example/.well-known"},
            "PORTAL_BASE_URL must be an https URL when PORTAL_ENV=production",
        ),
        (
            {
                "PORTAL_ENV": "production",
                "OIDC_DISCOVERY_URL": "http://idp.example/.well-known",
                "PORTAL_BASE_URL": "https://innsyn.example",
            },
            "OIDC_DISCOVERY_URL must be an https URL when PORTAL_ENV=production",
        ),
        ({"SECRET_KEY": "short"}, "SECRET_KEY must be at least 32 characters"),
        ({"OIDC_DISCOVERY_URL": "idp.example"}, "OIDC_DISCOVERY_URL must be an absolute"),
        ({"SESSION_IDLE_MINUTES": "ten"}, "SESSION_IDLE_MINUTES must be a whole number"),
        ({"SESSION_IDLE_MINUTES": "0"}, "SESSION_IDLE_MINUTES must be at least 1"),
        ({"ME_CACHE_SECONDS": "-1"}, "ME_CACHE_SECONDS must be at least 0"),
        ({"DATABASE_URL": "mysql://x/y"}, "DATABASE_URL must be a sqlite:/// or postgresql://"),
    ],
)
def test_bad_settings_name_the_variable(tmp_path: Path, env: dict, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        build(tmp_path, **env)


def test_production_needs_no_mock_and_accepts_plain_postgres_url(tmp_path: Path) -> None:
    settings = build(
        tmp_path,
        PORTAL_ENV="production",
        PORTAL_BASE_URL="https://innsyn.example",
        OIDC_DISCOVERY_URL="https://idp.example/.well-known/openid-configuration",
        OIDC_CLIENT_ID="portal",
        OIDC_CLIENT_SECRET="s3cret",
        SECRET_KEY="k" * 40,
        DATABASE_URL="postgresql://u@db/innsyn",
        SMTP_HOST="smtp.example",
        MAIL_FROM="Nordlys personvern <personvern@nordlys.example>",
    )
    assert settings.production
    assert not settings.mock_idp_mounted
    assert settings.database_url == "postgresql+psycopg://u@db/innsyn"
    assert settings.oidc_origin == "https://idp.example"


PRODUCTION = {
    "PORTAL_ENV": "production",
    "PORTAL_BASE_URL": "https://innsyn.example",
    "OIDC_DISCOVERY_URL": "https://idp.example/.well-known/openid-configuration",
    "OIDC_CLIENT_ID": "portal",
    "OIDC_CLIENT_SECRET": "s3cret",
    "SECRET_KEY": "k" * 40,
}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({**PRODUCTION, "MAIL_FROM": "p@nordlys.example"}, "SMTP_HOST is required"),
        ({**PRODUCTION, "SMTP_HOST": "smtp.example"}, "MAIL_FROM is required"),
        ({"SMTP_SECURITY": "ssl"}, "SMTP_SECURITY must be one of starttls, tls, none"),
        ({"SMTP_PORT": "70000"}, "SMTP_PORT must be a port number"),
        ({"SMTP_USER": "innsyn"}, "SMTP_USER and SMTP_PASSWORD are set together"),
        ({"MAIL_FROM": "not an address"}, "MAIL_FROM must be one e-mail address"),
        (
            {**PRODUCTION, "SMTP_HOST": "s", "MAIL_FROM": "p@n.example", "MAIL_DEV_SERVER": "8025"},
            "MAIL_DEV_SERVER is for development only",
        ),
    ],
)
def test_mail_settings_are_checked(tmp_path: Path, env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        build(tmp_path, **env)


def test_mail_defaults_to_the_development_mailbox(tmp_path: Path) -> None:
    mail = build(tmp_path).mail
    assert (mail.host, mail.security, mail.mailbox_dir) == ("", "none", tmp_path / "mailbox")
    # MAIL_DEV_SERVER: deliver over SMTP to the development server, without TLS.
    mail = build(tmp_path, MAIL_DEV_SERVER="8025").mail
    assert (mail.host, mail.port, mail.security) == ("127.0.0.1", 8025, "none")
    # SMTP_PORT follows SMTP_SECURITY unless set.
    mail = build(tmp_path, SMTP_HOST="smtp.example", SMTP_SECURITY="tls").mail
    assert (mail.host, mail.port, mail.security) == ("smtp.example", 465, "tls")
    assert "'pw'" not in repr(build(tmp_path, SMTP_USER="u", SMTP_PASSWORD="pw").mail)


def test_an_external_provider_in_development_unmounts_the_mock(tmp_path: Path) -> None:
    settings = build(tmp_path, OIDC_DISCOVERY_URL="http://127.0.0.1:8081/.well-known/x")
    assert not settings.mock_idp_mounted


def test_start_up_error_is_printed_clearly(tmp_path: Path, capsys, monkeypatch) -> None:
    from portal import cli

    monkeypatch.setenv("PORTAL_ENV", "production")
    monkeypatch.delenv("OIDC_DISCOVERY_URL", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["db", "upgrade"])
    assert exit_info.value.code == 2
    assert "configuration error: OIDC_DISCOVERY_URL is required" in capsys.readouterr().err


def test_production_will_not_start_without_the_pseudonym_key(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    """Checked at start-up (portal serve and portal worker), not by the first erasure."""
    from portal import cli

    for name, value in {
        **PRODUCTION,
        "SMTP_HOST": "smtp.example",
        "MAIL_FROM": "p@nordlys.example",
        "PORTAL_VAR_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'portal.db'}",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("INNSYN_PSEUDONYM_KEY", raising=False)
    assert cli.main(["worker", "--once"]) == 2
    assert "configuration error: INNSYN_PSEUDONYM_KEY is required" in capsys.readouterr().err
    with pytest.raises(SettingsError, match="INNSYN_PSEUDONYM_KEY is required"):
        create_app(Settings.from_env())
    # Development generates one into the var directory, so `make run` can erase.
    monkeypatch.setenv("PORTAL_ENV", "development")
    require_pseudonym_key(load_datamap(DATAMAP_PATH))
    assert (tmp_path / "pseudonym_key").exists()


def test_serve_refuses_a_database_that_is_not_up_to_date(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    from portal import cli

    monkeypatch.setenv("PORTAL_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    assert cli.main(["serve", "--port", "1"]) == 2
    assert "run `portal db upgrade`" in capsys.readouterr().err


@pytest.mark.parametrize(("raw", "expected"), [(None, False), ("on", True), ("off", False)])
def test_erasure_auto_approval_is_off_unless_switched_on(
    tmp_path: Path, raw: str | None, expected: bool
) -> None:
    env = {} if raw is None else {"ERASURE_AUTO_APPROVE": raw}
    assert build(tmp_path, **env).erasure_auto_approve is expected


def test_erasure_auto_approval_must_be_on_or_off(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="ERASURE_AUTO_APPROVE must be on or off"):
        build(tmp_path, ERASURE_AUTO_APPROVE="maybe")


@pytest.mark.parametrize(
    ("env", "host", "expected"),
    [
        ({}, "127.0.0.1", "http://127.0.0.1:8151"),
        ({}, "0.0.0.0", "http://127.0.0.1:8151"),  # noqa: S104 - the case under test
        ({}, "localhost", "http://localhost:8151"),
        ({}, "::1", "http://[::1]:8151"),
        ({"PORTAL_BASE_URL": "http://portal.local"}, "127.0.0.1", None),
        ({"PORTAL_ENV": "production"}, "127.0.0.1", None),
    ],
)
def test_development_serves_its_own_url_unless_told_otherwise(
    env: dict[str, str], host: str, expected: str | None
) -> None:
    assert served_base_url(env, host, 8151) == expected


def test_security_measures_default_to_the_demo_companys(tmp_path: Path) -> None:
    measures = build(tmp_path).security_measures
    assert measures.get("nb").startswith("Nordlys Handel AS beskytter personopplysningene")
    assert measures.get("sv").startswith("Nordlys Handel AS skyddar personuppgifterna")
    assert measures.get("en").startswith("Nordlys Handel AS protects personal data")
    assert measures.get("xx") == measures.nb


def test_security_measures_come_from_the_file_named(tmp_path: Path) -> None:
    path = tmp_path / "security.toml"
    path.write_text('nb = """\nLås.\n"""\nsv = "Lås."\nen = "Locks."\n', encoding="utf-8")
    measures = build(tmp_path, SECURITY_MEASURES_FILE=str(path)).security_measures
    assert (measures.nb, measures.sv, measures.en) == ("Lås.", "Lås.", "Locks.")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('nb = "a"\nsv = "b"\n', "has no en text"),
        ('nb = "a"\nsv = "b"\nen = "  "\n', "has no en text"),
        ('nb = "a"\nsv = "b"\nen = 3\n', "has no en text"),
        ('nb = "a"\nsv = "b"\nen = "c"\nde = "d"\n', "has unknown keys: de"),
        ("nb = ", "is not a valid TOML file"),
        ('nb = "a"\nsv = "b"\nen = "' + "x" * 20_001 + '"\n', "the en text is longer than 20000"),
        ('nb = "a"\nsv = "b"\nen = "' + "x" * 200_000 + '"\n', "is too large"),
    ],
)
def test_a_bad_security_measures_file_names_the_setting(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "security.toml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(SettingsError, match=rf"SECURITY_MEASURES_FILE .*{message}"):
        build(tmp_path, SECURITY_MEASURES_FILE=str(path))


def test_a_missing_security_measures_file_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"SECURITY_MEASURES_FILE names .* which is not a file"):
        build(tmp_path, SECURITY_MEASURES_FILE=str(tmp_path / "nowhere.toml"))
