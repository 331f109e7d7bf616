#!/usr/bin/env python3
"""Fill a running callhook with data the SDK checks rely on (stdlib only).

Writes, through callhook's ingest API (docs/ingest-api.md):
  * 75 call records dated over the last three days (more than one 60-record list page), with
    full media detail (networks, devices, streams with ISO-8601 durations and floats), both
    endpoint subtypes and both user-agent subtypes;
  * record SESSIONS_70_ID with 70 sessions (more than one 60-session page);
  * record PARTICIPANTS_140_ID with 140 participants_v2 (more than one 130-participant page);
  * 1,500 pstnCalls rows and 1,200 directRoutingCalls rows (more than one 1,000-row page).

Ids are fixed, so running it twice replaces rather than duplicates.

Usage: feed.py --url http://127.0.0.1:PORT --data-dir ./callhook-data [--insecure]
(over https, DATA_DIR/tls/cert.pem is trusted when it exists)
"""
import argparse
import datetime as dt
import json
import os
import ssl
import sys
import urllib.error
import urllib.request
import uuid

SESSIONS_70_ID = "c0a11c00-0000-4000-8000-000000000070"
PARTICIPANTS_140_ID = "c0a11c00-0000-4000-8000-000000000140"
SERVICE_ID = "c0a11c00-0000-4000-8000-00000000005e"
RECORD_COUNT = 75
PSTN_ROWS = 1500
DIRECT_ROUTING_ROWS = 1200
TENANT = "dc368399-474c-4d40-900c-6265431fd81f"
NS = uuid.UUID("6f1d3f0e-4b43-4a53-9a4c-63616c6c686b")


def iso(t):
    """Graph's 7-digit fractional seconds, 'Z' suffix."""
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%07d" % (t.microsecond * 10) + "Z"


def user(i):
    return {
        "id": str(uuid.uuid5(NS, "user-%d" % i)),
        "displayName": "User %d" % i,
        "tenantId": TENANT,
    }


def participant_endpoint(i, ua_platform="windows"):
    u = user(i)
    return {
        "@odata.type": "#microsoft.graph.callRecords.participantEndpoint",
        "name": "machine_%d" % i,
        "cpuName": "Intel(R) Xeon(R) Platinum 8272CL CPU @ 2.60GHz",
        "cpuCoresCount": 2 + i % 7,
        "cpuProcessorSpeedInMhz": 2594,
        "userAgent": {
            "@odata.type": "#microsoft.graph.callRecords.clientUserAgent",
            "headerValue": "UCCAPI/16.0.12527.20122 OC/16.0.12527.20194 (Skype for Business)",
            "applicationVersion": "1.0.%d" % i,
            "platform": ua_platform,
            "productFamily": "teams",
            "azureADAppId": None,
            "communicationServiceId": None,
        },
        "associatedIdentity": {
            "@odata.type": "#microsoft.graph.callRecords.userIdentity",
            "id": u["id"],
            "displayName": u["displayName"],
            "tenantId": TENANT,
            "userPrincipalName": "user%d@contoso.com" % i,
        },
        "feedback": {
            "rating": "poor" if i % 2 else "good",
            "text": None,
            "tokens": {"NoSound": False, "Echo": i % 3 == 0, "Noisy": True},
        },
    }


def service_endpoint():
    return {
        "@odata.type": "#microsoft.graph.callRecords.serviceEndpoint",
        "userAgent": {
            "@odata.type": "#microsoft.graph.callRecords.serviceUserAgent",
            "headerValue": None,
            "applicationVersion": None,
            "role": "skypeForBusinessAudioVideoMcu",
        },
    }


def media(i):
    return {
        "label": "main-audio",
        "callerNetwork": {
            "ipAddress": "10.150.0.%d" % (i % 250 + 2),
            "subnet": "10.150.0.0",
            "linkSpeed": 54000000,
            "connectionType": "wifi",
            "port": 27288,
            "reflexiveIPAddress": "127.0.0.2",
            "relayIPAddress": "52.114.188.32",
            "relayPort": 53889,
            "macAddress": "00-00-00-00-00-00",
            "dnsSuffix": None,
            "sentQualityEventRatio": 0,
            "receivedQualityEventRatio": 0.27,
            "delayEventRatio": 0,
            "bandwidthLowEventRatio": 0,
        },
        "calleeNetwork": {
            "ipAddress": "10.139.0.12",
            "subnet": "10.139.80.0",
            "linkSpeed": 4294967295,
            "connectionType": "wired",
            "port": 50011,
            "sentQualityEventRatio": 0.31,
            "receivedQualityEventRatio": 0,
        },
        "callerDevice": {
            "captureDeviceName": "Default input device",
            "renderDeviceName": "Default output device",
            "receivedSignalLevel": -10,
            "receivedNoiseLevel": -68,
            "initialSignalLevelRootMeanSquare": 60.25816,
            "renderZeroVolumeEventRatio": 1,
            "micGlitchRate": 23,
            "speakerGlitchRate": 3830,
        },
        "calleeDevice": {
            "captureDeviceName": "Microphone (Microsoft Virtual Audio Device (Simple) (WDM))",
            "captureDeviceDriver": "Microsoft: 5.0.8638.1100",
            "receivedSignalLevel": -14,
            "initialSignalLevelRootMeanSquare": 146.7885,
        },
        "streams": [
            {
                "streamId": "1504545584",
                "streamDirection": "callerToCallee",
                "averageAudioDegradation": None,
                "averageJitter": "PT0.016S",
                "maxJitter": "PT0.021S",
                "averagePacketLossRate": 0,
                "maxPacketLossRate": 0,
                "averageRoundTripTime": "PT0.061S",
                "maxRoundTripTime": "PT0.079S",
                "packetUtilization": 67,
                "averageBandwidthEstimate": 9965083,
                "wasMediaBypassed": False,
                "averageAudioNetworkJitter": "PT0.043S",
                "maxAudioNetworkJitter": "PT0.046S",
            },
            {
                "streamId": "1785122252",
                "streamDirection": "calleeToCaller",
                "averageAudioDegradation": 1.160898,
                "averageJitter": "PT0.007S",
                "maxJitter": "PT0.012S",
                "averagePacketLossRate": 0.01381693,
                "maxPacketLossRate": 0.03738318,
                "averageRatioOfConcealedSamples": 0.06233422,
                "maxRatioOfConcealedSamples": 0.07192807,
                "averageRoundTripTime": "PT0.064S",
                "maxRoundTripTime": "PT0.106S",
                "packetUtilization": 709,
                "averageBandwidthEstimate": 15644878,
                "wasMediaBypassed": False,
                "averageAudioNetworkJitter": "PT0.266S",
                "maxAudioNetworkJitter": "PT0.474S",
            },
        ],
    }


def session(rec_id, k, start, service=False):
    s_start = start + dt.timedelta(seconds=k)
    s_end = s_start + dt.timedelta(seconds=25, microseconds=547012)
    sid = str(uuid.uuid5(NS, "%s/session/%d" % (rec_id, k)))
    callee = service_endpoint() if service else participant_endpoint(k + 1, "macOS")
    return {
        "id": sid,
        "modalities": ["audio"],
        "startDateTime": iso(s_start),
        "endDateTime": iso(s_end),
        "isTest": False,
        "failureInfo": None,
        "caller": participant_endpoint(k, "android"),
        "callee": callee,
        "segments": [
            {
                "id": sid,
                "startDateTime": iso(s_start),
                "endDateTime": iso(s_end),
                "failureInfo": None,
                "caller": participant_endpoint(k, "android"),
                "callee": callee,
                "media": [media(k)],
            }
        ],
    }


def record(rec_id, start, sessions=1, participants=2, service=False, kind="groupCall"):
    end = start + dt.timedelta(seconds=sessions + 30)
    org = user(0)
    return {
        "id": rec_id,
        "type": kind,
        "modalities": ["audio"] if not service else ["audio", "video"],
        "startDateTime": iso(start),
        "endDateTime": iso(end),
        "joinWebUrl": None,
        "organizer_v2": {"id": org["id"], "identity": {"user": org}},
        "participants_v2": [
            {"id": user(p)["id"], "identity": {"user": user(p)}} for p in range(participants)
        ],
        "sessions": [session(rec_id, k, start, service and k == 0) for k in range(sessions)],
    }


def pstn_row(i, start):
    t = start + dt.timedelta(seconds=37 * i)
    return {
        "id": str(uuid.uuid5(NS, "pstn-%d" % i)),
        "callId": "%d_112562680@61.221.3.176" % (1835317186 + i),
        "userId": user(i % 10)["id"],
        "userPrincipalName": "user%d@contoso.com" % (i % 10),
        "userDisplayName": "User %d" % (i % 10),
        "startDateTime": iso(t),
        "endDateTime": iso(t + dt.timedelta(seconds=219)),
        "duration": 219,
        "charge": 0.05 * (i % 3),
        "callType": "user_in" if i % 2 else "user_out",
        "currency": "USD",
        "calleeNumber": "+1234567890",
        "usageCountryCode": "US",
        "tenantCountryCode": "US",
        "connectionCharge": 0.0,
        "callerNumber": "+0123456789",
        "destinationContext": None,
        "destinationName": "United States",
        "conferenceId": None,
        "licenseCapability": "MCOPSTNU",
        "inventoryType": "Subscriber",
        "operator": "Microsoft",
        "callDurationSource": "microsoft",
    }


def direct_routing_row(i, start):
    t = start + dt.timedelta(seconds=41 * i)
    return {
        "id": str(uuid.uuid5(NS, "dr-%d" % i)),
        "correlationId": str(uuid.uuid5(NS, "dr-corr-%d" % i)),
        "userId": user(i % 10)["id"],
        "userPrincipalName": "user%d@contoso.com" % (i % 10),
        "userDisplayName": "User %d" % (i % 10),
        "startDateTime": iso(t),
        "inviteDateTime": iso(t - dt.timedelta(seconds=3)),
        "failureDateTime": "0001-01-01T00:00:00Z",
        "endDateTime": iso(t + dt.timedelta(seconds=5)),
        "duration": 5,
        "callType": "ByotIn",
        "successfulCall": True,
        "callerNumber": "+12345678***",
        "calleeNumber": "+01234567***",
        "mediaPathLocation": "USWE",
        "signalingLocation": "EUNO",
        "finalSipCode": 0,
        "callEndSubReason": 540000,
        "finalSipCodePhrase": "BYE",
        "trunkFullyQualifiedDomainName": "tll-audiocodes01.adatum.biz",
        "mediaBypassEnabled": False,
    }


class Ingest:
    def __init__(self, url, tenant, key, insecure, ca):
        self.base = url.rstrip("/") + "/ingest/v1/tenants/" + tenant
        self.key = key
        self.ctx = None
        if insecure:
            self.ctx = ssl._create_unverified_context()
        elif url.startswith("https://") and os.path.exists(ca):
            self.ctx = ssl.create_default_context(cafile=ca)

    def send(self, method, path, body):
        req = urllib.request.Request(
            self.base + path,
            data=json.dumps(body).encode(),
            method=method,
            headers={"Authorization": "Bearer " + self.key, "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, context=self.ctx) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            sys.exit("feed: %s %s -> %d %s" % (method, path, e.code, e.read()[:2000].decode()))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", required=True, help="callhook base URL, e.g. http://127.0.0.1:8080")
    ap.add_argument("--data-dir", required=True, help="callhook data dir (holds credentials.json)")
    ap.add_argument("--insecure", action="store_true", help="accept any HTTPS certificate")
    a = ap.parse_args()
    with open(a.data_dir.rstrip("/") + "/credentials.json") as f:
        cred = json.load(f)
    ca = os.path.join(a.data_dir, "tls", "cert.pem")
    ing = Ingest(a.url, cred["tenantId"], cred["ingestKey"], a.insecure, ca)

    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=123456)
    records = []
    for i in range(RECORD_COUNT):
        rid = str(uuid.uuid5(NS, "record-%d" % i))
        start = now - dt.timedelta(hours=1 + i)  # spread over the last ~3 days
        kind = "peerToPeer" if i % 2 else "groupCall"
        records.append(record(rid, start, sessions=1 + i % 3, participants=2 + i % 4, kind=kind))
    base = now - dt.timedelta(hours=2, minutes=30)
    records.append(record(SESSIONS_70_ID, base, sessions=70))
    records.append(record(PARTICIPANTS_140_ID, base - dt.timedelta(minutes=5), participants=140))
    records.append(record(SERVICE_ID, base - dt.timedelta(minutes=9), sessions=2, service=True))

    # The single-record PUT for the special ones, the batch route for the rest: both get exercised.
    for r in records[RECORD_COUNT:]:
        ing.send("PUT", "/callRecords/" + r["id"], r)
    plain = records[:RECORD_COUNT]
    for k in range(0, len(plain), 50):
        ing.send("POST", "/callRecords", {"value": plain[k : k + 50]})

    rows_start = now - dt.timedelta(days=2)
    pstn = [pstn_row(i, rows_start) for i in range(PSTN_ROWS)]
    dr = [direct_routing_row(i, rows_start) for i in range(DIRECT_ROUTING_ROWS)]
    for k in range(0, len(pstn), 1000):
        ing.send("POST", "/reports/pstnCalls", {"value": pstn[k : k + 1000]})
    for k in range(0, len(dr), 1000):
        ing.send("POST", "/reports/directRoutingCalls", {"value": dr[k : k + 1000]})
    print(
        "feed: %d call records, %d pstnCalls rows, %d directRoutingCalls rows"
        % (len(records), len(pstn), len(dr))
    )


if __name__ == "__main__":
    main()
