#!/usr/bin/env bash
# Produces definitions.json and routing.json from a real RabbitMQ 3.10 (Debian's rabbitmq-server package):
# starts a private node (own data, log, plugin and config files; ports 5699/15699), declares a varied topology with
# rabbitmqadmin, publishes a set of messages and records which payloads each queue received, exports the definitions
# with `rabbitmqctl export_definitions`, and stops the node. Run as root from anywhere:
#   bash tests/Gateway.Server.Tests/Fixtures/rabbitmq-definitions/produce.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/gateway-rabbit-fixture.XXXXXX)
export HOME=$work                                   # private Erlang cookie
export RABBITMQ_NODENAME=gateway-fixture@localhost RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT=5699
export RABBITMQ_DIST_PORT=25699
export RABBITMQ_MNESIA_BASE=$work/mnesia RABBITMQ_LOG_BASE=$work/log
export RABBITMQ_ENABLED_PLUGINS_FILE=$work/enabled_plugins RABBITMQ_CONF_ENV_FILE=$work/rabbitmq-env.conf
export RABBITMQ_CONFIG_FILE=$work/rabbitmq.conf
: > "$RABBITMQ_CONF_ENV_FILE"
printf 'loopback_users = none\nmanagement.tcp.ip = 127.0.0.1\nmanagement.tcp.port = 15699\n' > "$RABBITMQ_CONFIG_FILE"
bin=/usr/lib/rabbitmq/bin
"$bin/rabbitmq-plugins" enable --offline rabbitmq_management >/dev/null
"$bin/rabbitmq-server" > "$work/server.out" 2>&1 &
server=$!
trap '"$bin/rabbitmqctl" stop >/dev/null 2>&1 || kill $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
"$bin/rabbitmqctl" wait --pid $server --timeout 120 >/dev/null
until curl -fs -u guest:guest http://127.0.0.1:15699/api/overview >/dev/null; do sleep 1; done
"$bin/rabbitmqctl" version

admin() { rabbitmqadmin --port 15699 "$@"; }
# RabbitMQ's default vhost "/" (Gateway's "default"), and a second vhost.
admin declare vhost name=shop >/dev/null
admin declare permission vhost=shop user=guest configure='.*' write='.*' read='.*' >/dev/null
admin declare user name=ops password=ops-secret tags=monitoring >/dev/null
admin declare permission vhost=/ user=ops configure='' write='orders' read='.*' >/dev/null
admin declare policy name=expire-scratch pattern='^scratch\.' definition='{"expires":600000}' apply-to=queues >/dev/null

x() { admin declare exchange "$@" >/dev/null; }
x name=orders type=topic durable=true
x name=events type=fanout durable=true
x name=routes type=direct durable=true
x name=match type=headers durable=true
x name=audit type=topic durable=true internal=true
x name=unrouted type=fanout durable=true
x name=with-ae type=direct durable=true arguments='{"alternate-exchange":"unrouted"}'
x name=transient type=direct durable=false
x name=autodel type=fanout durable=true auto_delete=true
x name=cart type=topic durable=true --vhost=shop

q() { admin declare queue "$@" >/dev/null; }
q name=eu durable=true
q name=all durable=true
q name=audit-log durable=true
q name=route-a durable=true
q name=route-b durable=true
q name=pdf-reports durable=true
q name=zip-or-urgent durable=true
q name=lost durable=true
q name=scratch.transient durable=false
q name=with-ttl durable=true arguments='{"x-message-ttl":60000}'
q name=with-dlx durable=true arguments='{"x-dead-letter-exchange":"events","x-dead-letter-routing-key":"dead"}'
q name=bounded durable=true arguments='{"x-max-length":100,"x-overflow":"reject-publish"}'
q name=carts durable=true --vhost=shop

b() { admin declare binding "$@" >/dev/null; }
b source=orders destination=eu routing_key='orders.eu.*'
b source=orders destination=all routing_key='orders.#'
b source=orders destination=with-ttl routing_key='orders.*.expiring'
b source=orders destination=events destination_type=exchange routing_key='orders.*.created'
b source=events destination=audit destination_type=exchange routing_key=''
b source=audit destination=audit-log routing_key='#'
b source=routes destination=route-a routing_key=a
b source=routes destination=route-b routing_key=b
b source=routes destination=route-a routing_key=ab
b source=routes destination=route-b routing_key=ab
b source=routes destination=with-dlx routing_key=dlx
b source=routes destination=bounded routing_key=bounded
b source=match destination=pdf-reports arguments='{"x-match":"all","format":"pdf","type":"report"}'
b source=match destination=zip-or-urgent arguments='{"x-match":"any","format":"zip","urgent":true}'
b source=with-ae destination=route-a routing_key=a
b source=unrouted destination=lost
b source=transient destination=scratch.transient routing_key=t
b source=autodel destination=all
b source=cart destination=carts routing_key='cart.#' --vhost=shop

# Messages: each payload names itself; routing.json records them and where RabbitMQ put each one.
cat > "$work/publishes.json" <<'JSON'
[
 {"vhost": "/", "exchange": "orders", "routing_key": "orders.eu.created", "payload": "p01"},
 {"vhost": "/", "exchange": "orders", "routing_key": "orders.us.created", "payload": "p02"},
 {"vhost": "/", "exchange": "orders", "routing_key": "orders.eu.shipped", "payload": "p03"},
 {"vhost": "/", "exchange": "orders", "routing_key": "orders.eu.expiring", "payload": "p04"},
 {"vhost": "/", "exchange": "orders", "routing_key": "invoices.eu.created", "payload": "p05"},
 {"vhost": "/", "exchange": "events", "routing_key": "anything", "payload": "p06"},
 {"vhost": "/", "exchange": "routes", "routing_key": "a", "payload": "p07"},
 {"vhost": "/", "exchange": "routes", "routing_key": "ab", "payload": "p08"},
 {"vhost": "/", "exchange": "routes", "routing_key": "dlx", "payload": "p09"},
 {"vhost": "/", "exchange": "routes", "routing_key": "bounded", "payload": "p10"},
 {"vhost": "/", "exchange": "routes", "routing_key": "c", "payload": "p11"},
 {"vhost": "/", "exchange": "match", "routing_key": "", "payload": "p12", "headers": {"format": "pdf", "type": "report"}},
 {"vhost": "/", "exchange": "match", "routing_key": "", "payload": "p13", "headers": {"format": "pdf"}},
 {"vhost": "/", "exchange": "match", "routing_key": "", "payload": "p14", "headers": {"format": "zip"}},
 {"vhost": "/", "exchange": "match", "routing_key": "", "payload": "p15", "headers": {"urgent": true}},
 {"vhost": "/", "exchange": "match", "routing_key": "", "payload": "p16", "headers": {"format": "pdf", "type": "report", "urgent": true}},
 {"vhost": "/", "exchange": "with-ae", "routing_key": "a", "payload": "p17"},
 {"vhost": "/", "exchange": "with-ae", "routing_key": "zzz", "payload": "p18"},
 {"vhost": "/", "exchange": "transient", "routing_key": "t", "payload": "p19"},
 {"vhost": "/", "exchange": "autodel", "routing_key": "", "payload": "p20"},
 {"vhost": "/", "exchange": "amq.default", "routing_key": "eu", "payload": "p21"},
 {"vhost": "shop", "exchange": "cart", "routing_key": "cart.added", "payload": "p22"}
]
JSON
python3 - "$work/publishes.json" <<'PY'
import json, subprocess, sys
for m in json.load(open(sys.argv[1])):
    args = ["rabbitmqadmin", "--port", "15699", "--vhost=" + m["vhost"], "publish", "exchange=" + m["exchange"],
            "routing_key=" + m["routing_key"], "payload=" + m["payload"]]
    if "headers" in m: args.append("properties=" + json.dumps({"headers": m["headers"]}))
    subprocess.run(args, check=True, capture_output=True)
PY

python3 - "$here/routing.json" "$work/publishes.json" <<'PY'
import json, subprocess, sys
def admin(*args):
    return subprocess.run(["rabbitmqadmin", "--port", "15699", "--format", "raw_json", *args], check=True, capture_output=True, text=True).stdout
result = {"recorded_against": "", "publishes": json.load(open(sys.argv[2])), "queues": {}}
for vhost in ["/", "shop"]:
    for q in json.loads(admin("--vhost=" + vhost, "list", "queues", "name")):
        got = json.loads(admin("--vhost=" + vhost, "get", "queue=" + q["name"], "count=100", "ackmode=ack_requeue_false"))
        result["queues"][vhost + " " + q["name"]] = [m["payload"] for m in got]
result["recorded_against"] = "RabbitMQ " + json.loads(admin("show", "overview"))[0]["rabbitmq_version"]
json.dump(result, open(sys.argv[1], "w"), indent=1, sort_keys=True)
PY
"$bin/rabbitmqctl" export_definitions "$here/definitions.json"
python3 -m json.tool --indent 1 "$here/definitions.json" > "$work/pretty.json" && mv "$work/pretty.json" "$here/definitions.json"
echo "wrote $here/definitions.json and $here/routing.json"
