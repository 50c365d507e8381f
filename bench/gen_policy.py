#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Generate N services for the policy benchmark: per service a ServiceEntry
(VIP, 2 ports, 4 endpoints), a DestinationRule (2 subsets, a traffic policy)
and a VirtualService (a header-regex route, a weighted 90/10 route), in
FILES files under OUT. Usage: gen_policy.py N OUT [FILES]"""
import os
import sys

def main():
    n = int(sys.argv[1])
    out = sys.argv[2]
    nfiles = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    os.makedirs(out, exist_ok=True)
    per = (n + nfiles - 1) // nfiles
    for f in range(nfiles):
        with open(os.path.join(out, "svc-%03d.yaml" % f), "w") as fh:
            for i in range(f * per, min(n, (f + 1) * per)):
                ns = "ns%d" % (i % 50)
                a, b = (i >> 8) & 255, i & 255
                fh.write(f"""apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: svc{i}, namespace: {ns}}}
spec:
  hosts: [svc{i}]
  addresses: [10.{100 + (i >> 16)}.{a}.{b}]
  ports:
  - {{number: 80, name: http, protocol: HTTP}}
  - {{number: 9000, name: tcp, protocol: TCP}}
  resolution: STATIC
  location: MESH_INTERNAL
  endpoints:
  - {{address: 172.16.{a}.{b}, labels: {{app: svc{i}, version: v1}}}}
  - {{address: 172.17.{a}.{b}, labels: {{app: svc{i}, version: v1}}}}
  - {{address: 172.18.{a}.{b}, labels: {{app: svc{i}, version: v2}}}}
  - {{address: 172.19.{a}.{b}, labels: {{app: svc{i}, version: v2}}}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: svc{i}, namespace: {ns}}}
spec:
  host: svc{i}
  trafficPolicy:
    loadBalancer: {{simple: LEAST_REQUEST}}
    connectionPool: {{tcp: {{maxConnections: 100, connectTimeout: 1s}}}}
  subsets:
  - {{name: v1, labels: {{version: v1}}}}
  - {{name: v2, labels: {{version: v2}}}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: svc{i}, namespace: {ns}}}
spec:
  hosts: [svc{i}]
  http:
  - match: [{{headers: {{user-agent: {{regex: ".*Chrome.*"}}}}}}]
    route: [{{destination: {{host: svc{i}, subset: v2}}}}]
    timeout: 2s
  - route:
    - {{destination: {{host: svc{i}, subset: v1}}, weight: 90}}
    - {{destination: {{host: svc{i}, subset: v2}}, weight: 10}}
---
""")

if __name__ == "__main__":
    main()
