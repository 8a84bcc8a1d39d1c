"""No redirect carries personal data (issue 20, point 5): every route of the app, read from the
app so that a route added later is swept without changing this test, is sent a GET, and every
form its pages hold is posted (with a valid CSRF token, its fields filled with the person's
national ID, e-mail address or phone number), as an anonymous visitor, as the signed-in person
and as customer service, the DPO and an administrator; every redirect answered, and each step of
its chain, and every address an answer hands htmx (HX-Push-Url: the browser's history), must
name none of them in any form; pages and forms htmx drives are sent its way too. The sign-in
through the mock BankID and signing out are followed the same way. A route added here that
redirects with the number in its query string is caught (the last test), so the sweep cannot
pass by looking at nothing."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import unquote_plus, urljoin, urlsplit

import pytest
from starlette.responses import RedirectResponse
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from portal.datamap.identity import resolve
from portal.demo import EDGE_CASES_BY_KEY
from portal.models import StaffRoleName
from portal.phone_numbers import normalise_phone
from portal.settings import Settings
from portal.workflows.requests import RequestType
from tests.support import csrf_token_from, in_process_app, sign_in_staff
from tests.workflows.test_request_pages import add_person, file_by_hand, sign_in_subject

PARAMETER = re.compile(r"\{(\w+)(?::(\w+))?\}")
MAX_HOPS = 6
ADDRESS_HEADERS = ("HX-Push-Url", "HX-Replace-Url", "HX-Redirect", "HX-Location", "Refresh")
HTMX = {"HX-Request": "true"}
# Left out of the sweep: signing out ends the session the sweep is signed in with (it has a test
# of its own below), and the mock provider is followed through the sign-in test.
SKIPPED = ("/auth/logout", "/mock-idp")


@dataclass(frozen=True)
class Person:
    """What must never be in an address: the national ID, e-mail addresses, phone numbers."""

    national_id: str
    emails: tuple[str, ...]
    phones: tuple[str, ...]  # E.164

    def national_id_forms(self) -> list[str]:
        nid = self.national_id
        if len(nid) == 11:
            return [nid, f"{nid[:6]} {nid[6:]}", f"{nid[:6]}-{nid[6:]}"]
        return [nid, f"{nid[:8]}-{nid[8:]}", f"{nid[2:8]}-{nid[8:]}", nid[2:]]

    def found_in(self, url: str) -> list[str]:
        """What of the person ``url`` names, however it is written or encoded."""
        text = unquote_plus(unquote_plus(url)).lower()
        texts = [text, *_decoded_tokens(url)]
        digits = [re.sub(r"[\s\-+./()]", "", t) for t in texts]
        found = [f"national ID {form}" for form in self.national_id_forms() if form in text]
        bare = self.national_id if len(self.national_id) == 11 else self.national_id[2:]
        found += ["national ID"] * any(bare in d for d in digits)
        found += [f"e-mail {e}" for e in self.emails if any(e.lower() in t for t in texts)]
        for phone in self.phones:
            national = phone[3:]  # +47 and +46 numbers: the number without the country code
            found += [f"phone {phone}"] * any(national in d for d in digits)
        return found


def _decoded_tokens(url: str) -> Iterator[str]:
    """Base64url pieces of the address decoded (an ID token in a query carries the ID)."""
    for piece in re.findall(r"[A-Za-z0-9_-]{16,}", url):
        try:
            decoded = base64.urlsafe_b64decode(piece + "=" * (-len(piece) % 4))
        except (binascii.Error, ValueError):
            continue
        yield decoded.decode("utf-8", "ignore")


def the_person(client: TestClient, key: str) -> Person:
    """A demo person with the identifiers the company holds for them."""
    national_id = EDGE_CASES_BY_KEY[key].national_id
    state = client.app.state
    found = resolve(state.datamap, state.sources, national_id).identifiers
    region = "NO" if len(national_id) == 11 else "SE"
    phones = {normalise_phone(str(p), region) for p in found.get("phone", ())} - {None}
    emails = {str(e).strip().lower() for e in found.get("email", ())}
    assert emails and phones, "the sweep needs a person with an e-mail address and a phone"
    return Person(national_id, tuple(sorted(emails)), tuple(sorted(phones)))  # type: ignore[arg-type]


# --- forms on a page ------------------------------------------------------------------------------


@dataclass
class Form:
    action: str
    method: str
    multipart: bool
    fields: dict[str, str] = field(default_factory=dict)
    texts: list[str] = field(default_factory=list)  # fields a person types in
    files: list[str] = field(default_factory=list)
    htmx: bool = False  # htmx sends it too (then the answer may push an address to history)


class _Forms(HTMLParser):
    def __init__(self, page_url: str) -> None:
        super().__init__()
        self.page_url = page_url
        self.forms: list[Form] = []
        self.current: Form | None = None
        self.select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {name: value or "" for name, value in attrs}
        if tag == "form":
            action = urljoin(self.page_url, a.get("action") or self.page_url)
            multipart = a.get("enctype", "") == "multipart/form-data"
            htmx = any(name.startswith("hx-") for name in a)
            self.current = Form(action, a.get("method", "get").upper(), multipart, htmx=htmx)
            self.forms.append(self.current)
            return
        form, name = self.current, a.get("name")
        if form is None or not name:
            if tag == "option" and form is not None and self.select is not None:
                form.fields.setdefault(self.select, a.get("value", ""))
            return
        kind = a.get("type", "text").lower()
        if tag == "select":
            self.select = name
        elif tag == "textarea" or (tag == "input" and kind in TYPED):
            form.texts.append(name)
            form.fields[name] = a.get("value", "")
        elif tag == "input" and kind == "file":
            form.files.append(name)
        elif tag == "input" and kind in ("radio", "checkbox"):
            if "checked" in a or name not in form.fields:
                form.fields[name] = a.get("value", "on")
        elif tag in ("input", "button") and kind != "submit":
            form.fields.setdefault(name, a.get("value", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.current = None
        elif tag == "select":
            self.select = None


TYPED = ("text", "search", "email", "tel", "date", "number")
# What a POST sent straight to a route carries: the names the portal's forms type identifiers in.
GENERIC = ("q", "value", "national_id", "email", "phone", "address", "name", "note", "text")


def forms_of(url: str, html: str) -> list[Form]:
    parser = _Forms(url)
    parser.feed(html)
    return [form for form in parser.forms if form.method == "POST"]


def filled(form: Form, person: Person, variant: str, token: str) -> dict[str, str]:
    """The form's fields, what a person types filled with ``variant`` of their identifiers."""
    identifier = {
        "national_id": person.national_id,
        "email": person.emails[0],
        "phone": person.phones[0],
    }[variant]
    values = dict(form.fields)
    for name in form.texts:
        if name in ("email", "address"):
            values[name] = person.emails[0]
        elif name in ("phone", "mobile"):
            values[name] = person.phones[0]
        elif name in ("national_id", "person"):
            values[name] = person.national_id
        elif name.endswith("_at") or name.endswith("date"):
            values[name] = "2027-01-15"
        elif name in ("months", "request_id", "request", "hold_id", "plan_id"):
            values[name] = values[name] or "1"
        elif name == "name":
            values[name] = "Kari Nordmann"
        else:
            values[name] = identifier
    if "kind" in values and variant in ("email", "phone"):
        values["kind"] = variant
    values["csrf_token"] = token
    return values


# --- the sweep ------------------------------------------------------------------------------------


class Sweep:
    """Requests sent and the redirects that named the person."""

    def __init__(
        self, client: TestClient, person: Person, role: str, skip: tuple[str, ...] = SKIPPED
    ) -> None:
        self.client, self.person, self.role, self.skip = client, person, role, skip
        self.leaks: list[str] = []
        self.pages: list[tuple[str, str]] = []  # (URL, HTML) of pages seen
        self.sent = 0
        self.redirects = 0

    def follow(self, method: str, url: str, **kwargs: object) -> None:
        """Send, then follow the redirect chain on this site, checking every Location."""
        response = self.client.request(method, url, **kwargs)
        self.sent += 1
        for _hop in range(MAX_HOPS):
            # Addresses an answer gives a browser besides Location: htmx's history and redirects.
            for header in ADDRESS_HEADERS:
                if found := self.person.found_in(response.headers.get(header, "")):
                    self.leaks.append(f"{self.role}: {method} {url} -> {header}: {found}")
            if not 300 <= response.status_code < 400:
                break
            location = response.headers.get("location", "")
            self.redirects += 1
            if found := self.person.found_in(location):
                self.leaks.append(f"{self.role}: {method} {url} -> {location}: {found}")
            target = urlsplit(urljoin(str(response.url), location))
            if target.netloc not in ("", "testserver") or target.path.startswith(self.skip):
                return
            method, url = "GET", urljoin(str(response.url), location)
            response = self.client.get(url)
            self.sent += 1
        if response.status_code == 200 and "text/html" in response.headers.get("content-type", ""):
            self.pages.append((str(response.url), response.text))


def route_urls(app, request_id: int, table: str) -> list[tuple[str, str]]:
    """(method, URL) of every route, parameters filled with values that exist."""
    fill = {"table": table, "action": "approve", "kind": "email", "index": "0"}

    def value(match: re.Match[str]) -> str:
        name, kind = match.group(1), match.group(2)
        return fill.get(name) or (str(request_id) if kind == "int" or name == "id" else "x")

    found = []
    for route in app.routes:
        if isinstance(route, Route) and not route.path.startswith(SKIPPED):
            url = PARAMETER.sub(value, route.path)
            found += [(method, url) for method in sorted(route.methods or ()) if method != "HEAD"]
        elif isinstance(route, Mount):
            assert route.path in ("/static", "/mock-idp"), f"a mount to sweep: {route.path}"
    return found


def sweep(client: TestClient, person: Person, role: str, request_id: int) -> Sweep:
    done = Sweep(client, person, role)
    table = next(iter(client.app.state.datamap.tables))
    urls = route_urls(client.app, request_id, table)
    token = next(
        csrf_token_from(page.text)
        for page in map(client.get, ("/", "/me", "/staff", "/dpo"))
        if 'name="csrf_token"' in page.text
    )
    for method, url in urls:
        if method == "GET":
            done.follow("GET", url)
            done.follow("GET", url, headers=HTMX)
        else:
            for variant in ("national_id", "email", "phone"):
                generic = Form(url, "POST", False, {"kind": "national_id"}, list(GENERIC))
                done.follow(method, url, data=filled(generic, person, variant, token))
    posted: set[tuple[str, str]] = set()
    for page_url, html in list(done.pages):  # the forms of every page reached, once each
        for form in forms_of(page_url, html):
            if urlsplit(form.action).path.startswith(SKIPPED):
                continue
            for variant in ("national_id", "email", "phone"):
                if (form.action, variant) in posted:
                    continue
                posted.add((form.action, variant))
                data = filled(form, person, variant, token)
                files = {n: ("list.csv", _csv(person), "text/csv") for n in form.files}
                done.follow("POST", form.action, data=data, files=files or None)
                if form.htmx:
                    done.follow("POST", form.action, data=data, headers=HTMX)
    return done


def _csv(person: Person) -> bytes:
    row = f"{person.phones[0]};{person.national_id};{person.emails[0]}"
    return f"phone;national_id;email\n{row}\n".encode()


# --- the tests ------------------------------------------------------------------------------------


@pytest.fixture
def client(settings: Settings, demo_sources) -> Iterator[TestClient]:
    app = in_process_app(settings, sources=demo_sources)
    with TestClient(app, follow_redirects=False) as c:
        c.cookies.set("lang", "en")
        yield c


@pytest.mark.parametrize("key", ["ordinary", "coordination_number"])
def test_no_redirect_names_the_person_whoever_is_signed_in(client: TestClient, key: str) -> None:
    person = the_person(client, key)
    subject_id = add_person(client, key)
    request_id = file_by_hand(client, subject_id, RequestType.access)
    sweeps = [sweep(client, person, "anonymous", request_id)]
    sign_in_subject(client, subject_id)
    sweeps.append(sweep(client, person, "person", request_id))
    for role in (StaffRoleName.staff, StaffRoleName.dpo, StaffRoleName.admin):
        sign_in_staff(client, role, sub=str(role))
        sweeps.append(sweep(client, person, str(role), request_id))
    assert [leak for done in sweeps for leak in done.leaks] == []
    counts = [(done.role, done.sent, done.redirects) for done in sweeps]
    assert all(sent > 100 and redirects > 20 for _role, sent, redirects in counts), counts


@pytest.mark.parametrize("choice", ["person", "national_id"])
def test_signing_in_with_bankid_and_out_names_the_person_in_no_redirect(
    client: TestClient, choice: str
) -> None:
    person = the_person(client, "ordinary")
    done = Sweep(client, person, "sign-in", skip=())
    login = client.get("/auth/login")
    assert login.status_code == 302
    location = login.headers["location"]
    assert not person.found_in(location)
    page = client.get(location)
    pending = re.search(r'name="pending" value="([^"]+)"', page.text).group(1)
    # A test person picked from the list, or the number typed.
    done.follow(
        "POST", "/mock-idp/authorize", data={"pending": pending, choice: person.national_id}
    )
    assert client.get("/me").status_code == 200  # signed in, through every redirect checked
    done.follow(
        "POST", "/auth/logout", data={"csrf_token": csrf_token_from(client.get("/me").text)}
    )
    assert client.get("/me").status_code == 303  # signed out
    assert done.leaks == []


def test_a_redirect_with_the_national_id_in_its_query_is_caught(client: TestClient) -> None:
    person = the_person(client, "ordinary")
    nid = person.national_id

    async def leaky(request):
        return RedirectResponse(f"/me?who={nid[:6]}-{nid[6:]}", status_code=303)

    client.app.router.routes.append(Route("/leaky", leaky))
    done = sweep(client, person, "anonymous", request_id=1)
    typed = f"{nid[:6]}-{nid[6:]}"
    found = f"['national ID {typed}', 'national ID']"
    # Found twice (sent as a page and by htmx), and along the chain: /me sends the visitor on
    # to sign in with the address as the place to come back to.
    assert sorted(set(done.leaks)) == [
        f"anonymous: GET /leaky -> /me?who={typed}: {found}",
        f"anonymous: GET http://testserver/me?who={typed} -> "
        f"/auth/login?next=%2Fme%3Fwho%3D{typed}: {found}",
    ]
