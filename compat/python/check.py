#!/usr/bin/env python3
"""Check that the official Python Graph SDK (msgraph-sdk, unmodified) works against callhook.

Needs `pip install msgraph-sdk azure-identity` and a callhook filled by ../feed.py.
Prints one PASS/FAIL line per check (NOTE lines are informational) and exits 1 if any FAIL.

Usage: check.py --url http://127.0.0.1:PORT --data-dir DIR [--ca DIR/tls/cert.pem]
  --url       callhook base URL (no /v1.0); https:// when callhook runs with --tls
  --data-dir  callhook data dir (credentials.json is read from it)
  --ca        PEM certificate to trust for https (default: DIR/tls/cert.pem when it exists)
"""
import argparse
import asyncio
import dataclasses
import datetime as dt
import json
import os
import ssl
import sys
import time
import traceback
import uuid
import urllib.parse
import urllib.request

import httpx
from azure.core.credentials import AccessToken
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_authentication_azure.azure_identity_authentication_provider import (
    AzureIdentityAuthenticationProvider,
)
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.communications.call_records.call_records_request_builder import (
    CallRecordsRequestBuilder,
)
from msgraph.generated.communications.call_records.item.call_record_item_request_builder import (
    CallRecordItemRequestBuilder,
)
from msgraph.generated.communications.call_records.item.sessions.sessions_request_builder import (
    SessionsRequestBuilder,
)
from msgraph.generated.models.call_records.client_user_agent import ClientUserAgent
from msgraph.generated.models.call_records.participant_endpoint import ParticipantEndpoint
from msgraph.generated.models.call_records.service_endpoint import ServiceEndpoint
from msgraph.generated.models.call_records.service_user_agent import ServiceUserAgent
from msgraph.generated.models.call_records.user_identity import UserIdentity
from msgraph.generated.models.user_identity import UserIdentity as AnyUserIdentity
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph_core import GraphClientFactory
from msgraph_core.tasks.page_iterator import PageIterator

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from feed import NS, PARTICIPANTS_140_ID, SERVICE_ID, SESSIONS_70_ID  # noqa: E402

SCOPES = ["https://graph.microsoft.com/.default"]
FAILED = []
# The HTTP version the current round of checks runs over, shown in every line it reports.
PROTOCOL = [""]


def report(ok, name, detail=""):
    name = ("[%s] " % PROTOCOL[0] if PROTOCOL[0] else "") + name
    print("%s %s%s" % ("PASS" if ok else "FAIL", name, (" -- " + detail) if detail else ""))
    if not ok:
        FAILED.append(name)
    return ok


def note(text):
    print("NOTE " + text)


def check(name):
    """Run an async check; any exception is a FAIL with the SDK's stack."""

    def wrap(fn):
        async def run(*a, **kw):
            try:
                await fn(*a, **kw)
            except AssertionError as e:
                report(False, name, str(e))
            except Exception as e:  # the SDK's own exception is what the report needs
                detail = describe_exception(e)
                report(False, name, detail)
                traceback.print_exc(limit=6, file=sys.stdout)

        run.__name__ = fn.__name__
        return run

    return wrap


def describe_exception(e):
    if isinstance(e, ODataError):
        err = e.error
        return "ODataError status=%s code=%s message=%r" % (
            e.response_status_code,
            err.code if err else None,
            err.message if err else None,
        )
    return "%s: %s" % (type(e).__name__, e)


# ---------------------------------------------------------------- raw HTTP (the reference)


class Raw:
    """Plain HTTP, used to fetch tokens and to know what the SDK should have seen."""

    def __init__(self, url, ctx):
        self.url = url.rstrip("/")
        self.ctx = ctx
        self.token = None

    def fetch_token(self, tenant, client_id, secret):
        form = urllib.parse.urlencode(
            {
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": secret,
                "scope": SCOPES[0],
            }
        ).encode()
        req = urllib.request.Request("%s/%s/oauth2/v2.0/token" % (self.url, tenant), data=form)
        with urllib.request.urlopen(req, context=self.ctx) as r:
            body = json.load(r)
        self.token = body["access_token"]
        return body

    def get(self, path_or_url):
        url = path_or_url if path_or_url.startswith("http") else self.url + path_or_url
        req = urllib.request.Request(url, headers={"Authorization": "Bearer " + self.token})
        with urllib.request.urlopen(req, context=self.ctx) as r:
            return json.load(r)

    def count_all(self, path):
        n, url = 0, path
        while url:
            page = self.get(url)
            n += len(page.get("value", []))
            url = page.get("@odata.nextLink")
        return n


class StaticTokenCredential:
    """An azure.core TokenCredential that hands out a token fetched from callhook.

    kiota's auth provider calls get_token(*scopes, claims=..., enable_cae=...), so accept **kwargs.
    """

    def __init__(self, raw, tenant, client_id, secret):
        self.args = (tenant, client_id, secret)
        self.raw = raw
        self.calls = 0
        self.cached = None

    def get_token(self, *scopes, **kwargs):
        # kiota asks before every request and does not cache: keep the token until near expiry.
        self.calls += 1
        if self.cached is None or self.cached.expires_on - 60 < time.time():
            body = self.raw.fetch_token(*self.args)
            expires = int(time.time()) + int(body.get("expires_in", 3600))
            self.cached = AccessToken(body["access_token"], expires)
        return self.cached


def make_client(base_url, credential, verify, versions=None):
    """The configuration a callhook user needs: allowed_hosts, explicit scopes, base_url.

    verify=None keeps the SDK's own default httpx client (HTTP/2, trusting SSL_CERT_FILE);
    otherwise an HTTP/1.1 client that trusts `verify`. `versions` collects each answer's
    HTTP version, to prove which protocol the round really used.
    """
    host = urllib.parse.urlparse(base_url).hostname
    auth = AzureIdentityAuthenticationProvider(credential, scopes=SCOPES, allowed_hosts=[host])
    if verify is None:
        http = GraphClientFactory.create_with_default_middleware()
    else:
        http = GraphClientFactory.create_with_default_middleware(
            client=httpx.AsyncClient(verify=verify, http2=False)
        )
    if versions is not None:

        async def seen(response):
            versions.add(response.http_version)

        http.event_hooks["response"] = list(http.event_hooks.get("response", [])) + [seen]
    adapter = GraphRequestAdapter(auth, client=http)
    adapter.base_url = base_url.rstrip("/") + "/v1.0"
    return GraphServiceClient(request_adapter=adapter)


async def collect(first_page, adapter):
    items = []
    it = PageIterator(first_page, adapter)

    def cb(item):
        items.append(item)
        return True

    await it.iterate(cb)
    return items


def additional_data_keys(obj, path="", out=None, seen=None):
    """Every additional_data key in a parsed model tree, by path (wire-name mismatches land here)."""
    out = {} if out is None else out
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return out
    seen.add(id(obj))
    if isinstance(obj, list):
        for i, x in enumerate(obj):
            additional_data_keys(x, "%s[%d]" % (path, i), out, seen)
    elif dataclasses.is_dataclass(obj):
        extra = getattr(obj, "additional_data", None) or {}
        for k in extra:
            out.setdefault("%s.%s" % (type(obj).__name__, k), path)
        for f in dataclasses.fields(obj):
            if f.name != "additional_data":
                additional_data_keys(getattr(obj, f.name), path + "." + f.name, out, seen)
    return out


# Open types whose dynamic properties Graph itself sends (identity.tenantId) or whose whole content
# is dynamic (feedbackTokenSet): finding these in additional_data is expected, not a mismatch.
OPEN_TYPE_KEYS = ("Identity.tenantId", "UserIdentity.tenantId", "FeedbackTokenSet.")


def judge_additional_data(name, obj, allowed_prefixes=OPEN_TYPE_KEYS):
    keys = additional_data_keys(obj)
    annotations = sorted(k for k in keys if "@" in k.split(".", 1)[1])
    suspects = sorted(
        k for k in keys if "@" not in k.split(".", 1)[1] and not k.startswith(allowed_prefixes)
    )
    if annotations:
        note("%s: OData annotations kept in additional_data: %s" % (name, ", ".join(annotations)))
    return report(
        not suspects,
        "%s: no unmodelled properties in additional_data" % name,
        "; ".join("%s (at %s)" % (k, keys[k]) for k in suspects),
    )


# ---------------------------------------------------------------- the checks


@check("python list callRecords: PageIterator over all pages")
async def list_all(client, raw):
    first = await client.communications.call_records.get()
    assert first is not None and first.value, "first page empty"
    assert first.odata_next_link, "first page has no odata_next_link (feed.py stores 78 records, page size 60)"
    note("list: first page %d records, nextLink %s" % (len(first.value), first.odata_next_link[:90]))
    items = await collect(first, client.request_adapter)
    expected = raw.count_all("/v1.0/communications/callRecords")
    ids = [r.id for r in items]
    assert len(ids) == len(set(ids)), "duplicate ids across pages"
    assert len(items) == expected, "SDK saw %d records, raw HTTP saw %d" % (len(items), expected)
    assert {SESSIONS_70_ID, PARTICIPANTS_140_ID, SERVICE_ID} <= set(ids), "fed records missing"
    assert all(r.organizer_v2 is not None for r in items), "organizer_v2 missing on a listed record"
    report(True, "python list callRecords: PageIterator over all pages", "%d records" % len(items))
    judge_additional_data("python list callRecords", items)


@check("python list callRecords: Prefer odata.maxpagesize=25 + $filter startDateTime")
async def list_filtered_small_pages(client, raw):
    since = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=30)
    q = CallRecordsRequestBuilder.CallRecordsRequestBuilderGetQueryParameters(
        filter="startDateTime ge %s" % since.strftime("%Y-%m-%dT%H:%M:%SZ")
    )
    cfg = RequestConfiguration(query_parameters=q)
    cfg.headers.add("Prefer", "odata.maxpagesize=25")
    first = await client.communications.call_records.get(request_configuration=cfg)
    assert first is not None and first.value is not None
    assert len(first.value) <= 25, "page of %d > maxpagesize 25" % len(first.value)
    it = PageIterator(first, client.request_adapter)
    # PageIterator.set_headers(dict) is broken in msgraph-core 1.5.2 (it calls add_all(**dict));
    # add to its HeadersCollection directly.
    it.headers.add("Prefer", "odata.maxpagesize=25")
    items = []
    await it.iterate(lambda x: items.append(x) or True)
    assert items, "no record in the last 30 hours"
    bad = [r.id for r in items if r.start_date_time < since]
    assert not bad, "records before the filter bound: %s" % bad[:3]
    report(
        True,
        "python list callRecords: Prefer odata.maxpagesize=25 + $filter startDateTime",
        "%d records, first page %d" % (len(items), len(first.value)),
    )


@check("python get callRecord $expand=sessions($expand=segments): typed models")
async def get_expanded(client, raw):
    q = CallRecordItemRequestBuilder.CallRecordItemRequestBuilderGetQueryParameters(
        expand=["sessions($expand=segments)"]
    )
    rec = await client.communications.call_records.by_call_record_id(SERVICE_ID).get(
        request_configuration=RequestConfiguration(query_parameters=q)
    )
    assert rec is not None
    assert rec.id == SERVICE_ID
    assert rec.type is not None and rec.type.value == "groupCall", "type %r" % rec.type
    assert [m.value for m in rec.modalities] == ["audio", "video"], "modalities %r" % rec.modalities
    assert isinstance(rec.start_date_time, dt.datetime) and rec.start_date_time.tzinfo, "startDateTime"
    assert rec.version and rec.version >= 1 and rec.last_modified_date_time, "version/lastModified"
    org = rec.organizer_v2
    assert org and org.identity and org.identity.user and org.identity.user.display_name == "User 0", (
        "organizer_v2 %r" % org
    )
    assert rec.sessions and len(rec.sessions) == 2, "sessions %r" % (rec.sessions and len(rec.sessions))
    s0 = rec.sessions[0]
    assert isinstance(s0.caller, ParticipantEndpoint), "caller is %s" % type(s0.caller).__name__
    assert isinstance(s0.callee, ServiceEndpoint), "callee is %s" % type(s0.callee).__name__
    assert isinstance(s0.caller.user_agent, ClientUserAgent), "caller UA %s" % type(s0.caller.user_agent)
    assert s0.caller.user_agent.platform.value == "android", "platform"
    assert s0.caller.user_agent.product_family.value == "teams", "productFamily"
    assert isinstance(s0.callee.user_agent, ServiceUserAgent), "callee UA %s" % type(s0.callee.user_agent)
    assert s0.callee.user_agent.role.value == "skypeForBusinessAudioVideoMcu", "role"
    ident = s0.caller.associated_identity
    # msgraph-sdk's Identity factory imports both UserIdentity classes under one name, so
    # #microsoft.graph.callRecords.userIdentity comes back as models.user_identity.UserIdentity.
    assert isinstance(ident, (UserIdentity, AnyUserIdentity)), "associatedIdentity is %s" % type(ident)
    if not isinstance(ident, UserIdentity):
        note("SDK bug: callRecords.userIdentity parsed as %s.%s" % (type(ident).__module__, type(ident).__name__))
    assert ident.user_principal_name == "user0@contoso.com", "userPrincipalName %r" % ident.user_principal_name
    assert s0.caller.cpu_cores_count == 2 and s0.caller.name == "machine_0", "cpu/name"
    assert s0.caller.feedback and s0.caller.feedback.rating.value == "good", "feedback.rating"
    assert s0.caller.feedback.tokens is not None, "feedback.tokens"
    assert s0.is_test is False, "isTest %r" % s0.is_test
    assert s0.segments and len(s0.segments) == 1, "segments"
    seg = s0.segments[0]
    assert isinstance(seg.callee, ServiceEndpoint), "segment callee %s" % type(seg.callee).__name__
    m = seg.media[0]
    assert m.label == "main-audio"
    assert m.caller_network.link_speed == 54000000, "linkSpeed"
    assert m.caller_network.connection_type.value == "wifi", "connectionType"
    assert abs(m.caller_network.received_quality_event_ratio - 0.27) < 1e-6, "receivedQualityEventRatio"
    assert m.callee_network.link_speed == 4294967295, "linkSpeed > 2^31"
    assert abs(m.caller_device.initial_signal_level_root_mean_square - 60.25816) < 1e-4, "initialSignal"
    assert m.caller_device.received_signal_level == -10, "receivedSignalLevel"
    st = m.streams
    assert len(st) == 2, "streams"
    assert st[0].stream_direction.value == "callerToCallee", "streamDirection"
    assert st[0].average_jitter == dt.timedelta(milliseconds=16), "averageJitter %r" % st[0].average_jitter
    assert st[1].max_audio_network_jitter == dt.timedelta(milliseconds=474), "maxAudioNetworkJitter"
    assert st[0].average_audio_degradation is None, "null float"
    assert abs(st[1].average_audio_degradation - 1.160898) < 1e-6, "averageAudioDegradation"
    assert abs(st[1].average_packet_loss_rate - 0.01381693) < 1e-9, "averagePacketLossRate"
    assert st[1].average_bandwidth_estimate == 15644878, "averageBandwidthEstimate"
    assert st[1].was_media_bypassed is False, "wasMediaBypassed"
    report(True, "python get callRecord $expand=sessions($expand=segments): typed models")
    judge_additional_data("python get callRecord expanded", rec)


@check("python get every listed record (up to 150) expanded: models parse, nothing unmodelled")
async def get_all_expanded(client, raw):
    # Covers whatever else is in the server (e.g. `callhook simulate` data), not only feed.py's.
    first = await client.communications.call_records.get()
    listed = (await collect(first, client.request_adapter))[:150]
    q = CallRecordItemRequestBuilder.CallRecordItemRequestBuilderGetQueryParameters(
        expand=["sessions($expand=segments)"]
    )
    cfg = RequestConfiguration(query_parameters=q)
    recs = []
    for r in listed:
        rec = await client.communications.call_records.by_call_record_id(r.id).get(request_configuration=cfg)
        assert rec and rec.id == r.id, "get %s" % r.id
        recs.append(rec)
    kinds = {}
    for rec in recs:
        for s in rec.sessions or []:
            for ep in (s.caller, s.callee):
                ua = getattr(ep, "user_agent", None)
                key = "%s/%s" % (type(ep).__name__, type(ua).__name__)
                kinds[key] = kinds.get(key, 0) + 1
    note("endpoint/userAgent classes seen: %s" % kinds)
    unknown = [k for k in kinds if k.split("/")[0] not in ("ParticipantEndpoint", "ServiceEndpoint")]
    assert not unknown, "endpoints not resolved to a subtype: %s" % unknown
    report(True, "python get every listed record (up to 150) expanded: models parse, nothing unmodelled", "%d records" % len(recs))
    judge_additional_data("python every record expanded", recs)


@check("python get callRecord with 70 sessions: first 60 inline, sessions@odata.nextLink followed")
async def get_expanded_paged_sessions(client, raw):
    q = CallRecordItemRequestBuilder.CallRecordItemRequestBuilderGetQueryParameters(
        expand=["sessions($expand=segments)"]
    )
    rec = await client.communications.call_records.by_call_record_id(SESSIONS_70_ID).get(
        request_configuration=RequestConfiguration(query_parameters=q)
    )
    inline = len(rec.sessions or [])
    link = (rec.additional_data or {}).get("sessions@odata.nextLink")
    note("expanded 70-session record: %d inline, sessions@odata.nextLink=%s" % (inline, link))
    assert inline == 60, "expected 60 inline sessions, got %d" % inline
    assert link, "no sessions@odata.nextLink in additional_data"
    page = await client.communications.call_records.by_call_record_id(SESSIONS_70_ID).sessions.with_url(link).get()
    rest = await collect(page, client.request_adapter)
    ids = {s.id for s in rec.sessions} | {s.id for s in rest}
    assert len(ids) == 70, "sessions after following nextLink: %d distinct" % len(ids)
    assert all(s.segments for s in rest), "nextLink page lost $expand=segments"
    report(True, "python get callRecord with 70 sessions: first 60 inline, sessions@odata.nextLink followed")


@check("python sessions request builder $expand=segments: PageIterator 70 sessions")
async def sessions_builder(client, raw):
    q = SessionsRequestBuilder.SessionsRequestBuilderGetQueryParameters(expand=["segments"])
    b = client.communications.call_records.by_call_record_id(SESSIONS_70_ID).sessions
    first = await b.get(request_configuration=RequestConfiguration(query_parameters=q))
    assert first and first.value, "empty"
    assert len(first.value) == 60, "first page %d sessions, expected 60" % len(first.value)
    items = await collect(first, client.request_adapter)
    assert len({s.id for s in items}) == 70, "%d sessions" % len(items)
    assert all(s.segments and s.segments[0].media for s in items), "segments missing on a page"
    report(True, "python sessions request builder $expand=segments: PageIterator 70 sessions")


@check("python get callRecord $expand=participants_v2 (140): 130 inline + nextLink; builder pages 140")
async def participants(client, raw):
    q = CallRecordItemRequestBuilder.CallRecordItemRequestBuilderGetQueryParameters(expand=["participants_v2"])
    rec = await client.communications.call_records.by_call_record_id(PARTICIPANTS_140_ID).get(
        request_configuration=RequestConfiguration(query_parameters=q)
    )
    inline = rec.participants_v2 or []
    link = (rec.additional_data or {}).get("participants_v2@odata.nextLink")
    note("expanded participants_v2: %d inline, nextLink=%s" % (len(inline), link))
    assert len(inline) == 130, "inline participants %d, expected 130" % len(inline)
    assert link, "no participants_v2@odata.nextLink"
    assert inline[0].identity and inline[0].identity.user and inline[0].identity.user.display_name, "identity"
    assert rec.sessions is None or rec.sessions == [], "sessions should not be expanded"
    b = client.communications.call_records.by_call_record_id(PARTICIPANTS_140_ID).participants_v2
    page = await b.with_url(link).get()
    rest = await collect(page, client.request_adapter)
    assert len({p.id for p in inline} | {p.id for p in rest}) == 140, "via nextLink: %d" % (len(inline) + len(rest))
    first = await b.get()
    items = await collect(first, client.request_adapter)
    assert len({p.id for p in items}) == 140, "builder saw %d participants" % len(items)
    report(True, "python get callRecord $expand=participants_v2 (140): 130 inline + nextLink; builder pages 140")
    judge_additional_data("python participants_v2", rec)


async def page_rows(client, raw, builder, fn, kind, at_least):
    first = await builder.get()
    assert first is not None and first.value is not None, "no body"
    assert len(first.value) == 1000, "first page %d rows, expected 1000" % len(first.value)
    assert first.odata_next_link, "no odata_next_link after 1000 rows"
    note("%s nextLink: %s" % (fn, first.odata_next_link))
    rows = await collect(first, client.request_adapter)
    expected = raw.count_all(builder.to_get_request_information().url)
    assert len(rows) == expected, "SDK saw %d rows, raw HTTP %d" % (len(rows), expected)
    assert len(rows) >= at_least, "only %d rows (feed.py stores %d)" % (len(rows), at_least)
    assert len({r.id for r in rows}) == len(rows), "duplicate ids across pages"
    # Types on every row (other data, e.g. from `callhook simulate`, may be present); values on a
    # row feed.py wrote.
    for r in rows:
        assert isinstance(r.start_date_time, dt.datetime) and isinstance(r.duration, int), "typed %s" % r.id
        assert not r.additional_data, "unmodelled %s on %s" % (sorted(r.additional_data), r.id)
        if kind == "pstn":
            assert r.charge is None or isinstance(r.charge, float), "charge %r" % r.charge
        else:
            assert isinstance(r.successful_call, bool) and isinstance(r.final_sip_code, int), "dr %s" % r.id
    fed_id = str(uuid.uuid5(NS, ("pstn-%d" if kind == "pstn" else "dr-%d") % 1))
    fed = [r for r in rows if r.id == fed_id]
    assert fed, "feed.py row %s not returned" % fed_id
    r = fed[0]
    if kind == "pstn":
        assert r.charge == 0.05 and r.currency == "USD" and r.call_type == "user_in", "pstn values"
        assert r.call_duration_source and r.call_duration_source.value == "microsoft", "callDurationSource"
    else:
        assert r.successful_call is True and r.final_sip_code == 0 and r.call_end_sub_reason == 540000, "dr values"
        assert isinstance(r.invite_date_time, dt.datetime), "inviteDateTime"
        assert r.failure_date_time.year == 1, "failureDateTime 0001-01-01"
    return rows


async def report_function(client, raw, kind, at_least):
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    frm, to = now - dt.timedelta(days=5), now + dt.timedelta(days=1)
    cr = client.communications.call_records
    if kind == "pstn":
        b = cr.microsoft_graph_call_records_get_pstn_calls_with_from_date_time_with_to_date_time(frm, to)
        fn = "getPstnCalls"
    else:
        b = cr.microsoft_graph_call_records_get_direct_routing_calls_with_from_date_time_with_to_date_time(frm, to)
        fn = "getDirectRoutingCalls"

    # 1. What users write: the generated builder, unmodified.
    name = "python %s via the generated builder: PageIterator over all pages" % fn
    url = b.to_get_request_information().url
    note("%s request URL built by the SDK: %s" % (fn, url))
    try:
        rows = await page_rows(client, raw, b, fn, kind, at_least)
        report(True, name, "%d rows" % len(rows))
    except Exception as e:
        report(False, name, "GET %s -> %s" % (url, describe_exception(e)))

    # 2. The same with a hand-written URL (std-uritemplate drops the ',' between the two
    #    parameters, see README): proves paging and row models once the URL is right.
    name = "python %s via builder.with_url(correct URL): PageIterator over all pages" % fn
    fixed = "%s/communications/callRecords/microsoft.graph.callRecords.%s(fromDateTime=%s,toDateTime=%s)" % (
        client.request_adapter.base_url,
        fn,
        frm.strftime("%Y-%m-%dT%H:%M:%SZ"),
        to.strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    rows = await page_rows(client, raw, b.with_url(fixed), fn, kind, at_least)
    report(True, name, "%d rows" % len(rows))
    judge_additional_data("python " + fn, rows)


@check("python getPstnCalls via builder.with_url(correct URL): PageIterator over all pages")
async def pstn(client, raw):
    await report_function(client, raw, "pstn", 1500)


@check("python getDirectRoutingCalls via builder.with_url(correct URL): PageIterator over all pages")
async def direct_routing(client, raw):
    await report_function(client, raw, "dr", 1200)


async def expect_odata_error(name, coro, status, code):
    try:
        await coro
    except ODataError as e:
        err = e.error
        note("%s: %s" % (name, describe_exception(e)))
        ok = e.response_status_code == status and err is not None and err.code == code and bool(err.message)
        inner = err.inner_error if err else None
        detail = "" if ok else describe_exception(e)
        if ok and inner is not None:
            note("%s: innerError request_id=%s date=%s" % (name, inner.request_id, inner.date))
        return report(ok, name, detail)
    return report(False, name, "no exception raised")


@check("python errors")
async def errors(client, raw):
    q = CallRecordsRequestBuilder.CallRecordsRequestBuilderGetQueryParameters(filter="bogus eq 'x'")
    await expect_odata_error(
        "python bad $filter raises ODataError 400 BadRequest",
        client.communications.call_records.get(request_configuration=RequestConfiguration(query_parameters=q)),
        400,
        "BadRequest",
    )
    await expect_odata_error(
        "python unknown callRecord id raises ODataError 404 NotFound",
        client.communications.call_records.by_call_record_id("00000000-0000-0000-0000-000000000404").get(),
        404,
        "NotFound",
    )


@check("python organizer_v2 navigation (GET callRecords/{id}/organizer_v2)")
async def organizer_nav(client, raw):
    # The SDK exposes this navigation; Graph's docs list only list/get/sessions/participants_v2.
    try:
        org = await client.communications.call_records.by_call_record_id(SERVICE_ID).organizer_v2.get()
        note("organizer_v2 navigation: id=%s" % (org.id if org else None))
    except ODataError as e:
        note("organizer_v2 navigation not served: %s" % describe_exception(e))


@check("python BatchRequestContent: 20 callRecords in one $batch")
async def batch_records(client, raw):
    from msgraph_core.requests.batch_request_content import BatchRequestContent
    from msgraph_core.requests.batch_request_item import BatchRequestItem

    ids = [r["id"] for r in raw.get("/v1.0/communications/callRecords?$select=id")["value"]][:20]
    assert len(ids) == 20, "need 20 records, listed %d" % len(ids)
    q = CallRecordItemRequestBuilder.CallRecordItemRequestBuilderGetQueryParameters(
        expand=["sessions($expand=segments)"]
    )
    items = {}
    content = BatchRequestContent()
    for record_id in ids:
        info = client.communications.call_records.by_call_record_id(record_id).to_get_request_information(
            request_configuration=RequestConfiguration(query_parameters=q)
        )
        item = BatchRequestItem(request_information=info)
        content.add_request(item.id, item)
        items[item.id] = record_id
    response = await client.batch.post(batch_request_content=content)
    statuses = response.get_response_status_codes()
    assert len(statuses) == 20, "%d responses" % len(statuses)
    bad = {k: v for k, v in statuses.items() if v != 200}
    assert not bad, "statuses %s" % bad
    bodies = {k: response.get_response_stream_by_id(k) for k in items}
    if any(b is None for b in bodies.values()):
        # kiota-python drops JSON-object bodies of batch answers (microsoft/kiota-python#737), real
        # Graph's too, since Graph writes them inline as callhook does. Read the same batch, built
        # and sent by the SDK, as raw bytes instead.
        note("python BatchResponseContent dropped the JSON bodies (kiota-python#737); reading them raw")
        info = await client.batch.to_post_request_information(content)
        answer = json.loads(await client.request_adapter.send_primitive_async(info, "bytes", None))
        bodies = {r["id"]: r.get("body") for r in answer["responses"]}
    else:
        bodies = {k: json.load(b) for k, b in bodies.items()}
    for request_id, record_id in items.items():
        body = bodies.get(request_id) or {}
        assert body.get("id") == record_id, "response %s is %r, wanted %s" % (request_id, body.get("id"), record_id)
        assert isinstance(body.get("sessions"), list) and body["sessions"], "no sessions in %s" % record_id
    report(True, "python BatchRequestContent: 20 callRecords in one $batch", "20 x 200")


CHECKS = (
    list_all,
    list_filtered_small_pages,
    get_expanded,
    get_all_expanded,
    get_expanded_paged_sessions,
    sessions_builder,
    participants,
    pstn,
    direct_routing,
    errors,
    organizer_nav,
    batch_records,
)


# ---------------------------------------------------------------- main


async def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", required=True)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--ca")
    a = ap.parse_args()
    with open(os.path.join(a.data_dir, "credentials.json")) as f:
        cred = json.load(f)
    https = a.url.startswith("https://")
    ca = a.ca or (os.path.join(a.data_dir, "tls", "cert.pem") if https else None)
    ctx = ssl.create_default_context(cafile=ca) if https else None
    raw = Raw(a.url, ctx)
    try:
        raw.fetch_token(cred["tenantId"], cred["clientId"], cred["clientSecret"])
        report(True, "python token endpoint (client_credentials)")
    except Exception as e:
        report(False, "python token endpoint (client_credentials)", describe_exception(e))
        return

    credential = StaticTokenCredential(raw, cred["tenantId"], cred["clientId"], cred["clientSecret"])
    rounds = [("HTTP/1.1", ssl.create_default_context(cafile=ca) if https else True)]
    if https:
        # The SDK's default client negotiates HTTP/2 and trusts what SSL_CERT_FILE names: the
        # one thing a user changes besides the base URL.
        os.environ["SSL_CERT_FILE"] = ca
        rounds.append(("HTTP/2", None))
    else:
        note("HTTP/2 round skipped: over plain http httpx speaks HTTP/1.1 only")
    for protocol, verify in rounds:
        PROTOCOL[0] = protocol
        versions = set()
        client = make_client(a.url, credential, verify, versions)
        for fn in CHECKS:
            await fn(client, raw)
        report(protocol in versions, "answers came over %s" % protocol, "saw %s" % sorted(versions))
    PROTOCOL[0] = ""
    report(credential.calls >= 1, "python custom TokenCredential was used by kiota", "%d calls" % credential.calls)

    if https:
        await azure_identity_check(a.url, cred, ca)
        await azure_identity_aio_check(a.url, cred, ca)
    else:
        note("azure-identity ClientSecretCredential checks skipped: need callhook --tls (MSAL wants https)")


@check("python azure-identity ClientSecretCredential(authority=callhook)")
async def azure_identity_check(url, cred, ca):
    from azure.core.pipeline.transport import RequestsTransport
    from azure.identity import ClientSecretCredential

    host = url.split("://", 1)[1].rstrip("/")
    credential = ClientSecretCredential(
        cred["tenantId"],
        cred["clientId"],
        cred["clientSecret"],
        authority=host,
        disable_instance_discovery=True,
        transport=RequestsTransport(connection_verify=ca),
    )
    tok = credential.get_token(SCOPES[0])
    assert tok.token, "empty token"
    client = make_client(url, credential, ssl.create_default_context(cafile=ca))
    page = await client.communications.call_records.get()
    assert page and page.value, "list failed"
    report(True, "python azure-identity ClientSecretCredential(authority=callhook)", "list saw %d" % len(page.value))



@check("python azure-identity aio ClientSecretCredential(authority=callhook)")
async def azure_identity_aio_check(url, cred, ca):
    from azure.core.pipeline.transport import AioHttpTransport
    from azure.identity.aio import ClientSecretCredential

    host = url.split("://", 1)[1].rstrip("/")
    async with ClientSecretCredential(
        cred["tenantId"],
        cred["clientId"],
        cred["clientSecret"],
        authority=host,
        disable_instance_discovery=True,
        transport=AioHttpTransport(connection_verify=ca),
    ) as credential:
        tok = await credential.get_token(SCOPES[0])
        assert tok.token, "empty token"
        # kiota's provider takes the aio credential as it is; the default client (HTTP/2) carries it.
        client = make_client(url, credential, None)
        page = await client.communications.call_records.get()
        assert page and page.value, "list failed"
    report(True, "python azure-identity aio ClientSecretCredential(authority=callhook)", "list saw %d" % len(page.value))

if __name__ == "__main__":
    asyncio.run(main())
    print("python: %d failed" % len(FAILED) + ((": " + "; ".join(FAILED)) if FAILED else ""))
    sys.exit(1 if FAILED else 0)
