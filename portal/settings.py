"""Settings, read once from the environment.

Every setting is documented in the README. A missing or malformed value stops start-up with a
message naming the variable, so an operator never has to guess from a traceback.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

ENVIRONMENTS = ("development", "production")
DEV_CLIENT_ID = "innsyn-portal"


class SettingsError(RuntimeError):
    """A setting is missing or malformed; the message names it."""


# A text per language is at most this long (the records of processing show it whole).
SECURITY_MEASURES_MAX_CHARS = 20_000


@dataclass(frozen=True)
class SecurityMeasures:
    """The general description of the technical and organisational security measures (GDPR
    art. 30(1)(g), art. 32), in every language, from ``SECURITY_MEASURES_FILE``. Plain text:
    a blank line between paragraphs, a line starting with "- " a point of a list."""

    nb: str
    sv: str
    en: str

    def get(self, language: str) -> str:
        return getattr(self, language) if language in ("nb", "sv", "en") else self.nb


def load_security_measures(path: Path) -> SecurityMeasures:
    """The texts of a security measures file: TOML with ``nb``, ``sv`` and ``en``, each a
    non-empty string (a multi-line one, in triple quotes). Anything else is a SettingsError
    naming SECURITY_MEASURES_FILE, the file and what is wrong."""
    name = f"SECURITY_MEASURES_FILE ({path})"
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise SettingsError(f"{name} cannot be read: {exc.strerror}") from None
    if len(content) > 8 * SECURITY_MEASURES_MAX_CHARS:
        raise SettingsError(f"{name} is too large")
    try:
        raw = tomllib.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"{name} is not a valid TOML file: {exc}") from None
    unknown = sorted(set(raw) - {"nb", "sv", "en"})
    if unknown:
        raise SettingsError(f"{name} has unknown keys: {', '.join(unknown)} (give nb, sv and en)")
    texts = {}
    for language in ("nb", "sv", "en"):
        text = raw.get(language)
        if not isinstance(text, str) or not text.strip():
            raise SettingsError(f"{name} has no {language} text")
        if len(text) > SECURITY_MEASURES_MAX_CHARS:
            raise SettingsError(
                f"{name}: the {language} text is longer than {SECURITY_MEASURES_MAX_CHARS} "
                "characters"
            )
        texts[language] = text.strip()
    return SecurityMeasures(**texts)


def _demo_security_measures() -> SecurityMeasures:
    from portal.demo import SECURITY_MEASURES_PATH

    return load_security_measures(Path(SECURITY_MEASURES_PATH))


@dataclass(frozen=True)
class Settings:
    env: str
    database_url: str
    secret_key: str
    base_url: str
    oidc_discovery_url: str
    oidc_client_id: str
    oidc_client_secret: str
    oidc_national_id_claim: str
    oidc_roles_claim: str
    mock_idp_clients: str
    mock_idp_mounted: bool
    var_dir: Path
    datamap_file: Path
    session_idle_minutes: int
    fresh_sign_in_seconds: int
    # Approve erasure plans that keep nothing without waiting for the DPO (off by default).
    erasure_auto_approve: bool = False
    # How long /me is remembered per session, in memory (portal/web/session_memory.py).
    me_cache_seconds: int = 60
    # Export downloads: how long a ready export's files and links last (days), and the number of
    # rows above which the worker builds it while the page shows progress.
    export_link_days: int = 7
    export_background_rows: int = 500
    # The country a phone number without a country code belongs to (block list, washing).
    phone_region: str = "NO"
    # The DPO's mailbox for deadline reminders (empty: no reminders; portal/workflows/reminders.py).
    dpo_email: str = ""
    # Signed links (portal/links.py): how long each kind lasts. An export's download links last
    # as long as the export (export_link_days).
    address_link_hours: int = 24
    request_link_hours: int = 24
    follow_link_days: int = 30
    # How long a recipient's link to confirm a task (GDPR art. 19) works, from when it is sent.
    recipient_link_days: int = 30
    # A request filed without BankID whose address is not confirmed by then is removed.
    unconfirmed_request_hours: int = 48
    # A request of the same type from the same person received within this many days of
    # another is flagged as a possible duplicate on the case page (workflows/duplicates.py).
    duplicate_window_days: int = 30
    # Attempts per client address and per e-mail address within the window (portal/ratelimit.py).
    rate_limit_per_ip: int = 20
    rate_limit_per_address: int = 5
    rate_limit_window_minutes: int = 60
    # Per-key limits (portal/ratelimit.py ``rules``): sign-in starts per IP in 10 minutes,
    # requests a signed-in person files in a day, API calls per token in a minute, caller
    # look-ups per member of staff in an hour.
    rate_limit_sign_in_per_ip: int = 30
    rate_limit_filings_per_person: int = 10
    rate_limit_api_per_minute: int = 600
    rate_limit_lookups_per_hour: int = 200
    # The largest request body each route family takes (portal/web/body_limit.py), in bytes.
    body_limit_form: int = 64 * 1024
    body_limit_upload: int = 256 * 2**20
    body_limit_api: int = 2**20
    # The records of processing's description of security measures (SECURITY_MEASURES_FILE).
    security_measures: SecurityMeasures = field(default_factory=_demo_security_measures)
    # How e-mail goes out (portal/mail/sender.py): SMTP, or the development mailbox.
    mail: MailSettings = field(default_factory=lambda: MailSettings())
    default_language: str = "nb"
    languages: tuple[str, ...] = field(default=("nb", "sv", "en"))

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def mock_idp_issuer(self) -> str:
        return f"{self.base_url}/mock-idp"

    @property
    def redirect_uri(self) -> str:
        return f"{self.base_url}/auth/callback"

    @property
    def post_logout_redirect_uri(self) -> str:
        return f"{self.base_url}/signed-out"

    @property
    def oidc_origin(self) -> str:
        parts = urlsplit(self.oidc_discovery_url)
        return f"{parts.scheme}://{parts.netloc}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        return _build(env)

    @classmethod
    def for_command(cls) -> Settings:
        """The settings of a `portal` command: a configuration error ends it (exit status 2)
        with one line naming the setting."""
        try:
            return cls.from_env()
        except SettingsError as exc:
            print(f"portal: configuration error: {exc}", file=sys.stderr)
            raise SystemExit(2) from None


def _build(env: Mapping[str, str]) -> Settings:
    mode = env.get("PORTAL_ENV", "development")
    if mode not in ENVIRONMENTS:
        raise SettingsError(f"PORTAL_ENV must be one of {', '.join(ENVIRONMENTS)}, not {mode!r}")
    production = mode == "production"
    var_dir = Path(env.get("PORTAL_VAR_DIR", "var"))
    base_url = _url(env, "PORTAL_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
    mounted = not production and not env.get("OIDC_DISCOVERY_URL")
    if production and not env.get("OIDC_DISCOVERY_URL"):
        raise SettingsError("OIDC_DISCOVERY_URL is required when PORTAL_ENV=production")
    discovery = env.get("OIDC_DISCOVERY_URL") or (
        f"{base_url}/mock-idp/.well-known/openid-configuration"
    )
    _check_url("OIDC_DISCOVERY_URL", discovery)
    if production:
        # Session cookies, links in e-mails and the provider's redirect all travel over these.
        for name, value in (("PORTAL_BASE_URL", base_url), ("OIDC_DISCOVERY_URL", discovery)):
            if urlsplit(value).scheme != "https":
                raise SettingsError(f"{name} must be an https URL when PORTAL_ENV=production")
    secret_key = _secret_key(env, production, var_dir)
    return Settings(
        env=mode,
        database_url=_database_url(env.get("DATABASE_URL"), var_dir),
        secret_key=secret_key,
        base_url=base_url,
        oidc_discovery_url=discovery,
        oidc_client_id=_required_in_production(env, "OIDC_CLIENT_ID", production, DEV_CLIENT_ID),
        oidc_client_secret=_required_in_production(
            env, "OIDC_CLIENT_SECRET", production, _derived_client_secret(secret_key)
        ),
        oidc_national_id_claim=env.get("OIDC_NATIONAL_ID_CLAIM", "nnin"),
        oidc_roles_claim=env.get("OIDC_ROLES_CLAIM", "roles"),
        mock_idp_clients=env.get("MOCK_IDP_CLIENTS", ""),
        mock_idp_mounted=mounted,
        var_dir=var_dir,
        datamap_file=_datamap_file(env),
        session_idle_minutes=_positive_int(env, "SESSION_IDLE_MINUTES", 30),
        fresh_sign_in_seconds=_positive_int(env, "FRESH_SIGN_IN_SECONDS", 300),
        erasure_auto_approve=_switch(env, "ERASURE_AUTO_APPROVE", default=False),
        phone_region=phone_region_from(env),
        dpo_email=dpo_email_from(env),
        mail=mail_settings_from(env),
        me_cache_seconds=_positive_int(env, "ME_CACHE_SECONDS", 60, minimum=0),
        export_link_days=_positive_int(env, "EXPORT_LINK_DAYS", 7),
        export_background_rows=_positive_int(env, "EXPORT_BACKGROUND_ROWS", 500, minimum=0),
        address_link_hours=_positive_int(env, "ADDRESS_LINK_HOURS", 24),
        request_link_hours=_positive_int(env, "REQUEST_LINK_HOURS", 24),
        follow_link_days=_positive_int(env, "FOLLOW_LINK_DAYS", 30),
        recipient_link_days=_positive_int(env, "RECIPIENT_LINK_DAYS", 30, maximum=366),
        unconfirmed_request_hours=_positive_int(env, "UNCONFIRMED_REQUEST_HOURS", 48),
        duplicate_window_days=_positive_int(env, "DUPLICATE_WINDOW_DAYS", 30, maximum=366),
        rate_limit_per_ip=_positive_int(env, "RATE_LIMIT_PER_IP", 20),
        rate_limit_per_address=_positive_int(env, "RATE_LIMIT_PER_ADDRESS", 5),
        rate_limit_window_minutes=_positive_int(
            env, "RATE_LIMIT_WINDOW_MINUTES", 60, maximum=24 * 60
        ),
        rate_limit_sign_in_per_ip=_positive_int(env, "RATE_LIMIT_SIGN_IN_PER_IP", 30),
        rate_limit_filings_per_person=_positive_int(env, "RATE_LIMIT_FILINGS_PER_PERSON", 10),
        rate_limit_api_per_minute=_positive_int(env, "RATE_LIMIT_API_PER_MINUTE", 600),
        rate_limit_lookups_per_hour=_positive_int(env, "RATE_LIMIT_LOOKUPS_PER_HOUR", 200),
        security_measures=_security_measures(env),
        body_limit_form=_positive_int(env, "BODY_LIMIT_FORM_KB", 64, maximum=10 * 1024) * 1024,
        body_limit_upload=_positive_int(env, "BODY_LIMIT_UPLOAD_MB", 256, maximum=4096) * 2**20,
        body_limit_api=_positive_int(env, "BODY_LIMIT_API_KB", 1024, maximum=100 * 1024) * 1024,
    )


def served_base_url(env: Mapping[str, str], host: str, port: int) -> str | None:
    """In development without PORTAL_BASE_URL: the URL of the host and port served, so that
    `portal serve --port 8151` signs in through its own mock provider. None otherwise."""
    if env.get("PORTAL_ENV", "development") == "production" or env.get("PORTAL_BASE_URL"):
        return None
    # A server bound to every interface is reached locally on the loopback address.
    loopback = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}  # noqa: S104 - not a bind
    shown = loopback.get(host, host)
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


def _url(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name, default)
    _check_url(name, value)
    return value


def _check_url(name: str, value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SettingsError(f"{name} must be an absolute http(s) URL, not {value!r}")


def _required_in_production(
    env: Mapping[str, str], name: str, production: bool, dev_default: str
) -> str:
    value = env.get(name)
    if value:
        return value
    if production:
        raise SettingsError(f"{name} is required when PORTAL_ENV=production")
    return dev_default


def _switch(env: Mapping[str, str], name: str, *, default: bool) -> bool:
    raw = env.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in ("on", "true", "yes", "1"):
        return True
    if value in ("off", "false", "no", "0"):
        return False
    raise SettingsError(f"{name} must be on or off, not {raw!r}")


def _positive_int(
    env: Mapping[str, str], name: str, default: int, minimum: int = 1, maximum: int | None = None
) -> int:
    raw = env.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, not {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, not {value}")
    if maximum is not None and value > maximum:
        raise SettingsError(f"{name} must be at most {maximum}, not {value}")
    return value


def phone_region_from(env: Mapping[str, str]) -> str:
    import phonenumbers

    value = env.get("PHONE_REGION", "NO").strip().upper()
    if value not in phonenumbers.SUPPORTED_REGIONS:
        raise SettingsError(f"PHONE_REGION must be a two-letter country code, not {value!r}")
    return value


def dpo_email_from(env: Mapping[str, str]) -> str:
    """DPO_EMAIL: one e-mail address, or empty (the worker reads it without the rest)."""
    value = env.get("DPO_EMAIL", "").strip()
    local, _at, domain = value.partition("@")
    if value and (not local or "." not in domain or any(c.isspace() for c in value)):
        raise SettingsError(f"DPO_EMAIL must be one e-mail address, not {value!r}")
    return value


SMTP_SECURITY = ("starttls", "tls", "none")
# The usual port of each kind of connection: submission with STARTTLS, implicit TLS, plain.
SMTP_PORTS = {"starttls": 587, "tls": 465, "none": 25}


@dataclass(frozen=True)
class MailSettings:
    """SMTP_*, MAIL_FROM and MAIL_DEV_SERVER: how the outbox's messages are delivered.

    With SMTP_HOST empty in development, messages go to the development mailbox (/dev/mailbox)
    instead; MAIL_DEV_SERVER=PORT starts an SMTP server on 127.0.0.1:PORT in development that
    files what it receives there, and the sender then delivers to it over real SMTP.
    """

    production: bool = False
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_security: str = "starttls"
    smtp_user: str = ""
    smtp_password: str = field(default="", repr=False)
    mail_from: str = "innsyn@localhost"
    dev_server_port: int | None = None
    base_url: str = "http://127.0.0.1:8000"
    var_dir: Path = Path("var")
    timeout: float = 30.0

    @property
    def host(self) -> str:
        """The SMTP server delivered to; empty: none (the development mailbox)."""
        if self.smtp_host:
            return self.smtp_host
        return "127.0.0.1" if self.dev_server_port else ""

    @property
    def port(self) -> int:
        return self.smtp_port if self.smtp_host else (self.dev_server_port or self.smtp_port)

    @property
    def security(self) -> str:
        return self.smtp_security if self.smtp_host else "none"

    @property
    def mailbox_dir(self) -> Path:
        """Where development keeps the mail it shows at /dev/mailbox."""
        return self.var_dir / "mailbox"


def mail_settings_from(env: Mapping[str, str]) -> MailSettings:
    """The mail settings alone (the worker reads them when it delivers, without the rest)."""
    production = env.get("PORTAL_ENV", "development") == "production"
    host = env.get("SMTP_HOST", "").strip()
    security = env.get("SMTP_SECURITY", "starttls").strip().lower()
    if security not in SMTP_SECURITY:
        raise SettingsError(
            f"SMTP_SECURITY must be one of {', '.join(SMTP_SECURITY)}, not {security!r}"
        )
    port = _positive_int(env, "SMTP_PORT", SMTP_PORTS[security])
    if port > 65535:
        raise SettingsError(f"SMTP_PORT must be a port number, not {port}")
    if production and not host:
        raise SettingsError("SMTP_HOST is required when PORTAL_ENV=production")
    user, password = env.get("SMTP_USER", ""), env.get("SMTP_PASSWORD", "")
    if bool(user) != bool(password):
        raise SettingsError("SMTP_USER and SMTP_PASSWORD are set together, or neither")
    if user and security == "none" and production:
        raise SettingsError("SMTP_USER needs SMTP_SECURITY starttls or tls: never a plain login")
    sender = env.get("MAIL_FROM", "").strip()
    if production and not sender:
        raise SettingsError("MAIL_FROM is required when PORTAL_ENV=production")
    if sender and not _one_address(sender):
        raise SettingsError(f"MAIL_FROM must be one e-mail address, not {sender!r}")
    dev_port = None
    if env.get("MAIL_DEV_SERVER"):
        if production:
            raise SettingsError("MAIL_DEV_SERVER is for development only")
        dev_port = _positive_int(env, "MAIL_DEV_SERVER", 8025)
        if dev_port > 65535:
            raise SettingsError(f"MAIL_DEV_SERVER must be a port number, not {dev_port}")
    return MailSettings(
        production=production,
        smtp_host=host,
        smtp_port=port,
        smtp_security=security,
        smtp_user=user,
        smtp_password=password,
        mail_from=sender or "innsyn@localhost",
        dev_server_port=dev_port,
        base_url=env.get("PORTAL_BASE_URL", "http://127.0.0.1:8000").rstrip("/"),
        var_dir=Path(env.get("PORTAL_VAR_DIR", "var")),
    )


def _one_address(value: str) -> bool:
    local, _at, domain = value.rpartition("<")[2].rstrip(">").partition("@")
    return bool(local) and "." in domain and not any(c.isspace() for c in local + domain)


def _secret_key(env: Mapping[str, str], production: bool, var_dir: Path) -> str:
    value = env.get("SECRET_KEY")
    if value:
        if len(value) < 32:
            raise SettingsError("SECRET_KEY must be at least 32 characters long")
        return value
    if production:
        raise SettingsError("SECRET_KEY is required when PORTAL_ENV=production")
    # Development keeps a generated key so that sessions and signed links survive restarts.
    path = var_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.write_text(key)
    path.chmod(0o600)
    return key


def _datamap_file(env: Mapping[str, str]) -> Path:
    value = env.get("DATAMAP_FILE")
    if not value:
        # The demo company's map: the embedded default that makes `make run` work alone.
        from portal.demo import DATAMAP_PATH

        return Path(DATAMAP_PATH)
    path = Path(value)
    if not path.is_file():
        raise SettingsError(f"DATAMAP_FILE names {value!r}, which is not a file")
    return path


def _security_measures(env: Mapping[str, str]) -> SecurityMeasures:
    value = env.get("SECURITY_MEASURES_FILE")
    if not value:
        # The demo company's description: the embedded default, as for the data map.
        return _demo_security_measures()
    path = Path(value)
    if not path.is_file():
        raise SettingsError(f"SECURITY_MEASURES_FILE names {value!r}, which is not a file")
    return load_security_measures(path)


def _derived_client_secret(secret_key: str) -> str:
    # The portal's own client at the mounted mock provider needs a secret both sides agree on.
    return hashlib.sha256(f"mock-idp-client:{secret_key}".encode()).hexdigest()


def _database_url(value: str | None, var_dir: Path) -> str:
    if not value:
        var_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{var_dir / 'innsyn.db'}"
    # psycopg 3 is the driver we ship; accept the plain scheme operators tend to paste.
    for prefix in ("postgresql://", "postgres://"):
        if value.startswith(prefix):
            return "postgresql+psycopg://" + value[len(prefix) :]
    if not value.startswith(("sqlite", "postgresql+psycopg")):
        raise SettingsError(
            f"DATABASE_URL must be a sqlite:/// or postgresql:// URL, not {value.split(':')[0]}:…"
        )
    return value
