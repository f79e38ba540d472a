"""Checks an AWS Signature Version 4 the way AWS does, with botocore's signer (not the one that signed).

Reads JSON objects, one a line, on stdin: method, url (as received: path and query), headers
(lower-case name -> value, as received), body_b64, and the expected access_key_id,
secret_access_key, session_token (or null), service and region. Answers each with a line, "ok"
or "bad: <why>", in order (one process for a whole test file: botocore loads once).
"""
import base64
import hmac
import json
import re
import sys

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

AUTH = re.compile(r'^AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$')


def check(r):
    h = r['headers']
    m = AUTH.match(h.get('authorization', ''))
    if not m:
        return 'no SigV4 authorization header'
    akid, day, region, service, signed, signature = m.groups()
    if akid != r['access_key_id']:
        return 'unknown access key'
    if (region, service) != (r['region'], r['service']):
        return 'wrong scope %s/%s' % (region, service)
    amz_date = h.get('x-amz-date', '')
    if not amz_date.startswith(day):
        return 'date does not match the scope'
    if r['session_token'] is not None and h.get('x-amz-security-token') != r['session_token']:
        return 'session token missing or wrong'
    names = signed.split(';')
    if 'host' not in names or 'x-amz-date' not in names:
        return 'host and x-amz-date must be signed'
    if 'x-amz-security-token' in h and 'x-amz-security-token' not in names:
        return 'session token not signed'
    body = base64.b64decode(r['body_b64'])
    req = AWSRequest(method=r['method'], url='https://' + h['host'] + r['url'], headers={n: h[n] for n in names}, data=body)
    req.context['timestamp'] = amz_date
    auth = SigV4Auth(Credentials(akid, r['secret_access_key'], r['session_token']), service, region)
    canonical = auth.canonical_request(req)
    expected = auth.signature(auth.string_to_sign(req, canonical), req)
    return 'ok' if hmac.compare_digest(expected, signature) else 'bad signature'


for line in sys.stdin:
    result = check(json.loads(line))
    print(result if result == 'ok' else 'bad: ' + result, flush=True)
