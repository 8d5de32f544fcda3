using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using CsCheck;
using Xunit.Abstractions;

namespace Gateway.Server.Tests;

/// <summary>
/// The bad-input suite: thousands of generated malformed requests over real sockets (Kestrel, authentication on, the
/// administrator's key) across every endpoint — bad names in the path (256 bytes, %2F, dot segments, malformed or
/// non-UTF-8 percent-encoding, control characters), truncated bodies, JSON values of the wrong type, huge numbers,
/// unknown members, invalid UTF-8, random bytes, deep nesting, wrong content types, bad query values and property
/// headers, wrong methods — and garbage WebSocket frames. Every generated request carries at least one defect, so each
/// must answer a 4xx problem document (never 2xx, never 5xx); afterwards the stored messages, topology, users and keys
/// are exactly as before.
/// </summary>
public sealed class BadInputSuiteTests(KestrelGateway gateway, ITestOutputHelper output) : IClassFixture<KestrelGateway>
{
    private const int HttpInputs = 5000;
    private const int FrameInputs = 1000;
    private const int StoredMessages = 100;
    private const string Tag = "AAAAAAAAAAAAAAAAAAAAAA"; // a well-formed delivery tag no delivery has

    private readonly HttpClient _admin = gateway.CreateSocketClient();

    // ------------------------------------------------------------------ the endpoints

    private enum Kind { String, Enum, Bool, Int, Table, Object, Strings, Objects, Date }

    private sealed record Field(string Name, Kind Kind, bool NullIsValid = false);

    /// <summary>
    /// An endpoint: its method and path (parameters in braces), its valid JSON body (null: it takes none), whether the
    /// body may be left out, its fields, bodies that are well-formed JSON but invalid, and malformed query strings.
    /// Lenient: the body's format accepts members it does not know (RabbitMQ's definitions), so none are sent as defects.
    /// </summary>
    private sealed record Endpoint(string Name, string Method, string Path, string? Body = null, bool BodyOptional = false,
        Field[]? Fields = null, string[]? InvalidBodies = null, string[]? BadQueries = null, bool Raw = false, bool NeedsUpgrade = false,
        bool Lenient = false);

    private static readonly Field[] ExchangeFields =
        [new("type", Kind.Enum), new("durable", Kind.Bool), new("autoDelete", Kind.Bool), new("internal", Kind.Bool), new("arguments", Kind.Table, true)];
    private static readonly Field[] QueueFields =
        [new("durable", Kind.Bool), new("exclusive", Kind.Bool), new("autoDelete", Kind.Bool), new("arguments", Kind.Table, true)];
    private static readonly Field[] PublishFields =
        [new("routingKey", Kind.String), new("payload", Kind.String), new("payloadEncoding", Kind.Enum), new("properties", Kind.Object, true), new("mandatory", Kind.Bool)];
    private static readonly string LongName = new('n', 256);

    private static readonly string[] BadBoolQueries = ["maybe", "2", "tru", "1.0", "yes%FF"];

    private static Endpoint[] Endpoints() =>
    [
        new("ListVhosts", "GET", "/api/vhosts"),
        new("GetVhost", "GET", "/api/vhosts/{vhost}"),
        new("CreateVhost", "PUT", "/api/vhosts/{vhost}"),
        new("DeleteVhost", "DELETE", "/api/vhosts/{vhost}"),
        new("ListExchanges", "GET", "/api/vhosts/{vhost}/exchanges"),
        new("GetExchange", "GET", "/api/vhosts/{vhost}/exchanges/{exchange}"),
        new("DeclareExchange", "PUT", "/api/vhosts/{vhost}/exchanges/{exchange}", """{"type":"direct","durable":true,"arguments":{}}""", Fields: ExchangeFields,
            InvalidBodies: ["""{"type":"directt"}""", """{"type":"fanout"}""", """{"type":"direct","durable":false}""", """{"type":"direct","arguments":{"alternate-exchange":5}}""",
                """{"type":"direct","arguments":{"alternate-exchange":"a/b"}}""", """{}"""]),
        new("DeleteExchange", "DELETE", "/api/vhosts/{vhost}/exchanges/{exchange}", BadQueries: [.. BadBoolQueries.Select(v => "ifUnused=" + v)]),
        new("ListQueues", "GET", "/api/vhosts/{vhost}/queues"),
        new("DeclareServerNamedQueue", "POST", "/api/vhosts/{vhost}/queues", """{"durable":false}""", BodyOptional: true, Fields: QueueFields,
            InvalidBodies: ["""{"exclusive":true}""", """{"arguments":{"x-max-length":-1}}""", """{"arguments":{"x-message-ttl":"soon"}}""", """{"arguments":{"x-overflow":"explode"}}"""]),
        new("GetQueue", "GET", "/api/vhosts/{vhost}/queues/{queue}"),
        new("DeclareQueue", "PUT", "/api/vhosts/{vhost}/queues/{queue}", """{"durable":true}""", BodyOptional: true, Fields: QueueFields,
            InvalidBodies: ["""{"durable":false}""", """{"exclusive":true}""", """{"arguments":{"x-max-priority":256}}""", """{"arguments":{"x-expires":0}}""",
                """{"arguments":{"x-dead-letter-exchange":5}}"""]),
        new("DeleteQueue", "DELETE", "/api/vhosts/{vhost}/queues/{queue}",
            BadQueries: [.. BadBoolQueries.Select(v => "ifUnused=" + v), .. BadBoolQueries.Select(v => "ifEmpty=" + v)]),
        new("PurgeQueue", "DELETE", "/api/vhosts/{vhost}/queues/{queue}/messages"),
        new("ListBindings", "GET", "/api/vhosts/{vhost}/bindings"),
        new("CreateBinding", "POST", "/api/vhosts/{vhost}/bindings", """{"source":"x","destination":"keep","destinationType":"queue","routingKey":"k","arguments":{}}""",
            Fields: [new("source", Kind.String), new("destination", Kind.String), new("destinationType", Kind.Enum), new("routingKey", Kind.String), new("arguments", Kind.Table, true)],
            InvalidBodies: ["""{"source":"amq.default","destination":"keep"}""", $$"""{"source":"x","destination":"{{LongName}}"}""", """{"source":"nope","destination":"keep"}""",
                """{"source":"x","destination":"nope"}""", $$"""{"source":"x","destination":"keep","routingKey":"{{LongName}}"}""", """{"source":"x","destination":"keep","destinationType":"topic"}""",
                """{"source":"x","destination":"a/b"}""", """{"source":"","destination":"keep"}"""]),
        new("GetBinding", "GET", "/api/vhosts/{vhost}/bindings/{id}"),
        new("DeleteBinding", "DELETE", "/api/vhosts/{vhost}/bindings/{id}"),
        new("Publish", "POST", "/api/vhosts/{vhost}/exchanges/{exchange}/publish", """{"routingKey":"k","payload":"m","properties":{"deliveryMode":2},"mandatory":false}""",
            Fields: PublishFields,
            InvalidBodies: ["""{"routingKey":"k","payload":"!!!","payloadEncoding":"base64"}""", """{"routingKey":"k","payload":"m","properties":{"deliveryMode":3}}""",
                """{"routingKey":"k","payload":"m","properties":{"priority":256}}""", """{"routingKey":"k","payload":"m","properties":{"expiration":"-1"}}""",
                """{"routingKey":"k","payload":"m","properties":{"headers":{"":1}}}""", """{"routingKey":"k","payload":"m","properties":{"headers":{"x-delay":"soon"}}}""",
                $$"""{"routingKey":"{{LongName}}","payload":"m"}""", """{"routingKey":"k"}""", """{"routingKey":"nowhere","payload":"m","mandatory":true}""",
                """{"routingKey":"k","payload":"m","properties":{"timestamp":-1}}""", "{\"routingKey\":\"k\",\"payload\":\"m\",\"properties\":{\"messageId\":\"" + LongName + "\"}}",
                "{\"routingKey\":\"k\",\"payload\":\"m\",\"properties\":{\"headers\":" + JsonSerializer.Serialize(Enumerable.Range(0, 200).ToDictionary(i => $"h{i}", i => i)) + "}}"]),
        new("PublishBatch", "POST", "/api/vhosts/{vhost}/exchanges/{exchange}/publish/batch", """{"messages":[{"routingKey":"k","payload":"m","properties":{"deliveryMode":2}}],"atomic":false}""",
            Fields: [new("messages", Kind.Objects), new("atomic", Kind.Bool)],
            InvalidBodies: ["""{"messages":[]}""", """{"messages":[{"routingKey":"k","payload":"m"},{"payload":5}]}""", """{"messages":[null]}""",
                """{"messages":[{"routingKey":"k","payload":"m"},{"routingKey":"k","payload":"m","properties":{"deliveryMode":0}}]}""",
                """{"messages":[{"routingKey":"nowhere","payload":"m","mandatory":true}],"atomic":true}"""]),
        new("PublishRaw", "POST", "/api/vhosts/{vhost}/exchanges/{exchange}/messages", Raw: true,
            BadQueries: ["routingKey=" + new string('k', 256), "routingKey=k&mandatory=maybe", "routingKey=k&mandatory=2", "routingKey=nowhere&mandatory=true"]),
        new("Get", "POST", "/api/vhosts/{vhost}/queues/{queue}/get", """{"max":1,"waitSeconds":0,"ackMode":"manual","leaseSeconds":30}""", BodyOptional: true,
            Fields: [new("max", Kind.Int), new("waitSeconds", Kind.Int), new("ackMode", Kind.Enum), new("leaseSeconds", Kind.Int)],
            InvalidBodies: ["""{"max":0}""", """{"max":1001}""", """{"waitSeconds":-1}""", """{"waitSeconds":121}""", """{"leaseSeconds":0}""", """{"leaseSeconds":43201}""",
                """{"max":-2147483648}"""]),
        new("GetRawNext", "POST", "/api/vhosts/{vhost}/queues/{queue}/messages/next",
            BadQueries: ["wait=-1", "wait=121", "wait=abc", "wait=99999999999", "wait=1.5", "ackMode=sideways", "ackMode=AUTO", "leaseSeconds=0", "leaseSeconds=43201",
                "leaseSeconds=x", "wait=%FF"]),
        new("Ack", "POST", "/api/vhosts/{vhost}/queues/{queue}/ack", $$"""{"deliveryTags":["{{Tag}}"]}""", Fields: [new("deliveryTags", Kind.Strings)],
            InvalidBodies: ["""{"deliveryTags":[]}""", """{"deliveryTags":["garbage"]}""", $$"""{"deliveryTags":["{{Tag}}"]}""",
                $$"""{"deliveryTags":[{{string.Join(',', Enumerable.Repeat($"\"{Tag}\"", 10_001))}}]}"""]),
        new("Nack", "POST", "/api/vhosts/{vhost}/queues/{queue}/nack", $$"""{"deliveryTags":["{{Tag}}"],"requeue":true}""",
            Fields: [new("deliveryTags", Kind.Strings), new("requeue", Kind.Bool), new("delayMilliseconds", Kind.Int, true)],
            InvalidBodies: ["""{"deliveryTags":[]}""", $$"""{"deliveryTags":["{{Tag}}"],"delayMilliseconds":-1}""", $$"""{"deliveryTags":["{{Tag}}"],"requeue":false,"delayMilliseconds":5}""",
                $$"""{"deliveryTags":["{{Tag}}"],"delayMilliseconds":4294967296}"""]),
        new("ExtendLeases", "POST", "/api/vhosts/{vhost}/queues/{queue}/extend", $$"""{"deliveryTags":["{{Tag}}"],"leaseSeconds":60}""",
            Fields: [new("deliveryTags", Kind.Strings), new("leaseSeconds", Kind.Int)],
            InvalidBodies: [$$"""{"deliveryTags":["{{Tag}}"],"leaseSeconds":0}""", $$"""{"deliveryTags":["{{Tag}}"]}""", """{"leaseSeconds":60}"""]),
        new("OpenWebSocket", "GET", "/api/vhosts/{vhost}/ws", NeedsUpgrade: true),
        new("StreamEvents", "GET", "/api/vhosts/{vhost}/queues/{queue}/events",
            BadQueries: ["prefetch=0", "prefetch=10001", "prefetch=abc", "prefetch=-5", "prefetch=99999999999", "ackMode=x", "ackMode=auto&prefetch=0"]),
        new("ListPermissions", "GET", "/api/permissions"),
        new("ListUsers", "GET", "/api/users"),
        new("GetUser", "GET", "/api/users/{user}"),
        new("PutUser", "PUT", "/api/users/{user}", """{"tags":["administrator"]}""", Fields: [new("tags", Kind.Strings)],
            InvalidBodies: ["""{"tags":["root"]}""", """{"tags":[""]}""", """{"tags":["a","b","c","d","e","f","g","h","i"]}"""]),
        new("DeleteUser", "DELETE", "/api/users/{user}"),
        new("ListKeys", "GET", "/api/users/{user}/keys"),
        new("CreateKey", "POST", "/api/users/{user}/keys", """{"description":"d","expiresAt":"2999-01-01T00:00:00Z"}""", BodyOptional: true,
            Fields: [new("description", Kind.String, true), new("expiresAt", Kind.Date, true)],
            InvalidBodies: ["""{"expiresAt":"2000-01-01T00:00:00Z"}""", $$"""{"description":"{{new string('d', 256)}}"}""", """{"expiresAt":"2999-13-01T00:00:00Z"}"""]),
        new("RevokeKey", "DELETE", "/api/users/{user}/keys/{id}"),
        new("ListVhostPermissions", "GET", "/api/vhosts/{vhost}/permissions"),
        new("GetPermission", "GET", "/api/vhosts/{vhost}/permissions/{user}"),
        new("SetPermission", "PUT", "/api/vhosts/{vhost}/permissions/{user}", """{"configure":".*","write":".*","read":".*"}""",
            Fields: [new("configure", Kind.String), new("write", Kind.String), new("read", Kind.String)],
            InvalidBodies: ["""{"configure":"(","write":".*","read":".*"}""", """{"configure":".*","write":"[z-a]","read":".*"}""", """{"configure":".*","write":".*"}""",
                $$"""{"configure":"{{new string('a', 1025)}}","write":".*","read":".*"}""", """{"configure":".*","write":".*","read":"(?=x)"}"""]),
        new("DeletePermission", "DELETE", "/api/vhosts/{vhost}/permissions/{user}"),
        new("CreateTicket", "POST", "/api/auth/tickets"),
        new("WhoAmI", "GET", "/api/auth/whoami"),
        new("GetOverview", "GET", "/api/overview"),
        new("Metrics", "GET", "/metrics"),
        new("ExportDefinitions", "GET", "/api/definitions"),
        new("ImportDefinitions", "POST", "/api/definitions", """{"queues":[],"exchanges":[],"bindings":[]}""", Lenient: true,
            BadQueries: ["allOrNothing=maybe", "dryRun=2", "dryRun=yes&allOrNothing=true"]),
        new("ListWebhooks", "GET", "/api/vhosts/{vhost}/queues/{queue}/webhooks"),
        new("GetWebhook", "GET", "/api/vhosts/{vhost}/queues/{queue}/webhooks/{name}"),
        new("PutWebhook", "PUT", "/api/vhosts/{vhost}/queues/{queue}/webhooks/{name}",
            """{"url":"https://hooks.example/in","secret":"s3cret-s3cret-s3cret","concurrency":1,"timeoutMilliseconds":1000,"format":"raw","enabled":false}""",
            Fields: [new("url", Kind.String), new("secret", Kind.String, true), new("secretRotationGraceSeconds", Kind.Int), new("concurrency", Kind.Int),
                new("timeoutMilliseconds", Kind.Int), new("retry", Kind.Object, true), new("format", Kind.Enum), new("enabled", Kind.Bool)],
            InvalidBodies: ["""{"url":"not a url"}""", """{"url":"ftp://hooks.example/in"}""", """{"url":"https://hooks.example/in","concurrency":0}""",
                """{"url":"https://hooks.example/in","timeoutMilliseconds":0}""", $$"""{"url":"https://hooks.example/in","secret":"{{new string('s', 101)}}"}""",
                """{"url":"https://hooks.example/in","retry":{"maxAttempts":0}}""", """{"url":""}"""]),
        new("DeleteWebhook", "DELETE", "/api/vhosts/{vhost}/queues/{queue}/webhooks/{name}"),
        new("EnableWebhook", "POST", "/api/vhosts/{vhost}/queues/{queue}/webhooks/{name}/enable"),
        new("RedriveWebhook", "POST", "/api/vhosts/{vhost}/queues/{queue}/webhooks/{name}/redrive", """{"from":"other","max":10}""",
            Fields: [new("from", Kind.String), new("max", Kind.Int)],
            InvalidBodies: ["""{"from":"other","max":0}""", """{"from":"other","max":10001}""", """{"max":10}""", $$"""{"from":"{{LongName}}"}"""]),
    ];

    // ------------------------------------------------------------------ defects

    /// <summary>One generated request and the defect it carries (printed when it fails).</summary>
    private sealed record BadRequest(string Endpoint, string Defect, string Method, string Target, byte[]? Body, string? ContentType,
        (string Name, string Value)[] Headers)
    {
        public override string ToString()
        {
            var body = Body is null ? "(none)" : Body.Length > 160 ? Convert.ToHexString(Body[..80]) + $"… ({Body.Length} bytes)" : Encoding.UTF8.GetString(Body);
            return $"[{Endpoint}: {Defect}] {Method} {Target} content-type={ContentType ?? "(none)"} headers={string.Join(";", Headers.Select(h => $"{h.Name}={h.Value}"))} body={body}";
        }
    }

    /// <summary>Path segments (as sent) that cannot name a resource.</summary>
    private static readonly string[] BadSegments =
    [
        LongName, string.Concat(Enumerable.Repeat("%C3%A9", 128)), "a%2Fb", "..%2F..%2Fetc%2Fpasswd", "%2F", "%2E%2E", "..", ".", "%2e", ".%2E",
        "%FF", "%C0%AF", "%ED%A0%80", "%F0%9F", "%", "50%", "%G1", "%01", "a%0Ab", "%7F", "tab%09", "%E2%80%8B%FF",
    ];

    private static Gen<T> Weighted<T>(params (int Weight, Gen<T> Gen)[] options) =>
        Gen.Frequency(options.Select(o => (o.Weight, (IGen<T>)o.Gen)).ToArray());

    private static readonly Gen<string> BadSegment = Weighted(
        (6, Gen.OneOf(BadSegments)),
        (1, Gen.Char['a', 'z'].Array[256, 300].Select(chars => new string(chars))),
        // %00 is left out: Kestrel refuses an encoded NUL itself, before the application (see the test below).
        (1, Gen.Byte[1, 255].Array[1, 12].Select(bytes => "%FF" + string.Concat(bytes.Select(b => $"%{b:X2}")))));

    private static readonly string[] WrongContentTypes =
        ["text/plain", "application/xml", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "image/png", ""];

    private static readonly string[] UnknownMembers = ["routing_key", "zzz", "$type", "__proto__", "mandatroy", "x_unknown"];

    private static readonly byte[][] InvalidUtf8 = [[0xFF], [0xFE, 0xFF], [0xC0, 0xAF], [0xED, 0xA0, 0x80], [0xF0, 0x9F], [0x80], [0xF8, 0x88, 0x80, 0x80, 0x80]];

    private static string[] WrongValues(Field field)
    {
        string[] values = field.Kind switch
        {
            Kind.String => ["1", "true", "[]", "{}", "1.5"],
            Kind.Enum => ["1", "true", "[]", "{}", "\"nope\"", "\"\""],
            Kind.Bool => ["\"true\"", "1", "0", "[]", "{}"],
            Kind.Int => ["\"1\"", "true", "1.5", "[]", "{}", "1e400", "99999999999999999999", "-99999999999999999999", "2147483648"],
            Kind.Table => ["[]", "\"x\"", "1", "true"],
            Kind.Object => ["[]", "\"x\"", "1", "true"],
            Kind.Strings => ["\"x\"", "[1]", "{}", "[[]]", "true"],
            Kind.Objects => ["\"x\"", "{}", "[1]", "[\"x\"]", "true"],
            Kind.Date => ["\"soon\"", "1", "true", "[]", "\"2999-02-30\""],
            _ => throw new ArgumentOutOfRangeException(nameof(field)),
        };
        return field.NullIsValid || field.Kind is Kind.Table or Kind.Object ? values : [.. values, "null"];
    }

    private static string Deep(int depth) => new string('[', depth) + new string(']', depth);

    private Gen<BadRequest> Requests(Endpoint[] endpoints, IReadOnlyDictionary<string, string> valid) =>
        Gen.Int[0, endpoints.Length - 1].SelectMany(i => Defects(endpoints[i], valid));

    private static Gen<BadRequest> Defects(Endpoint e, IReadOnlyDictionary<string, string> valid)
    {
        var parameters = System.Text.RegularExpressions.Regex.Matches(e.Path, "{([^}]+)}").Select(m => m.Groups[1].Value).ToArray();
        string PathWith(string? param, string? value) =>
            System.Text.RegularExpressions.Regex.Replace(e.Path, "{([^}]+)}", m => m.Groups[1].Value == param ? value! : Uri.EscapeDataString(valid[m.Groups[1].Value]));
        var validBody = e.Body is null ? null : Encoding.UTF8.GetBytes(e.Body);
        BadRequest Make(string defect, string path, byte[]? body = null, string? contentType = "application/json", string? query = null,
            (string, string)[]? headers = null, string? method = null) =>
            new(e.Name, defect, method ?? e.Method, path + (query is null ? "" : "?" + query), body ?? validBody, body is null && validBody is null && e.Raw is false ? null : contentType,
                headers ?? []);

        var defects = new List<Gen<BadRequest>>();
        if (parameters.Length > 0)
            defects.Add(Gen.Select(Gen.OneOf(parameters), BadSegment, (p, s) => Make($"bad {p} '{s}'", PathWith(p, s))));
        if (e.BadQueries is { } queries)
            defects.Add(Gen.OneOf(queries).Select(q => Make($"query {q}", PathWith(null, null), query: q)));
        if (e.NeedsUpgrade)
            defects.Add(Gen.Const(Make("no upgrade", PathWith(null, null))));
        if (e.Raw)
        {
            (string, string)[][] headers =
            [
                [("Amqp-Priority", "999")], [("Amqp-Priority", "x")], [("Amqp-Delivery-Mode", "3")], [("Amqp-Expiration", "-1")], [("Amqp-Expiration", "soon")],
                [("Amqp-Timestamp", "x")], [("Amqp-Header-x-delay", "soon")], [("Amqp-Correlation-Id", new string('c', 256))],
            ];
            defects.Add(Gen.Select(Gen.OneOf(headers), Gen.Byte.Array[0, 64], (h, body) =>
                Make($"header {h[0].Item1}", PathWith(null, null), body, "application/octet-stream", "routingKey=k", h)));
        }
        if (validBody is not null)
        {
            var path = PathWith(null, null);
            var fields = e.Fields ?? [];
            defects.Add(Gen.Int[1, validBody.Length - 1].Select(n => Make($"truncated at {n}", path, validBody[..n])));
            if (fields.Length > 0)
                defects.Add(Gen.OneOf(fields).SelectMany(f => Gen.OneOf(WrongValues(f)).Select(v =>
                {
                    var body = JsonNode.Parse(e.Body!)!.AsObject();
                    body[f.Name] = JsonNode.Parse(v);
                    return Make($"{f.Name} = {v}", path, Encoding.UTF8.GetBytes(body.ToJsonString()));
                })));
            if (!e.Lenient) defects.Add(Gen.OneOf(UnknownMembers).Select(name =>
            {
                var body = JsonNode.Parse(e.Body!)!.AsObject();
                body[name] = 1;
                return Make($"unknown member {name}", path, Encoding.UTF8.GetBytes(body.ToJsonString()));
            }));
            var quotes = Enumerable.Range(0, validBody.Length).Where(i => validBody[i] == (byte)'"').ToArray();
            defects.Add(Gen.Select(Gen.OneOf(quotes), Gen.OneOf(InvalidUtf8), (at, bad) =>
                Make($"invalid UTF-8 after byte {at}", path, [.. validBody[..(at + 1)], .. bad, .. validBody[(at + 1)..]])));
            defects.Add(Gen.Byte.Array[1, 300].Select(bytes =>
            {
                bytes[0] |= 0x80; // never the start of a JSON value
                return Make("random bytes", path, bytes);
            }));
            defects.Add(Gen.Int[65, 400].Select(depth => Make($"nested {depth} deep", path, Encoding.UTF8.GetBytes(Deep(depth)))));
            if (fields.Length > 0)
                defects.Add(Gen.Select(Gen.OneOf(fields), Gen.Int[65, 200], (f, depth) =>
                {
                    var body = JsonNode.Parse(e.Body!)!.AsObject();
                    body.Remove(f.Name);
                    var rest = body.ToJsonString();
                    return Make($"{f.Name} nested {depth} deep", path,
                        Encoding.UTF8.GetBytes(rest[..^1] + (body.Count > 0 ? "," : "") + $"\"{f.Name}\":{Deep(depth)}}}"));
                }));
            defects.Add(Gen.OneOf(WrongContentTypes).Select(ct => Make($"content type '{ct}'", path, contentType: ct.Length == 0 ? null : ct)));
            // For an optional body, whitespace and null mean "no body" (valid): only the others are defects there.
            defects.Add(Gen.OneOf("null", "[]", "1", "\"x\"", "true", " ", "{}{}", "{\"a\":1}garbage").Where(b => !(e.BodyOptional && b is " " or "null"))
                .Select(b => Make($"body {b}", path, Encoding.UTF8.GetBytes(b))));
            if (!e.BodyOptional) defects.Add(Gen.Const(Make("empty body", path, [])));
            if (e.InvalidBodies is { Length: > 0 } invalid)
                defects.Add(Gen.OneOf(invalid).Select(b => Make($"invalid {(b.Length > 60 ? b[..60] + "…" : b)}", path, Encoding.UTF8.GetBytes(b))));
        }
        // A method the path does not have (every path has at most GET, PUT, POST and DELETE), less often than the rest.
        var method = Gen.OneOf("PATCH", "TRACE").Select(m => Make("method", PathWith(null, null), method: m));
        return defects.Count == 0 ? method : Weighted([(1, method), .. defects.Select(d => (4, d))]);
    }

    // ------------------------------------------------------------------ the suite

    private sealed record Snapshot(string Vhosts, string Exchanges, string Queues, string Bindings, string Users, string Keys, string Permissions,
        string Webhooks);

    private async Task<Snapshot> SnapshotAsync(string vhost)
    {
        async Task<string> Get(string url) => await _admin.GetStringAsync(url);
        // Counts change with every request (rates, consumers); the topology does not.
        var queues = (await _admin.GetFromJsonAsync<List<ApiQueue>>(Urls.Queues(vhost), GatewayFactory.Json))!
            .Select(q => $"{q.Name}:{q.Durable}:{q.Messages}:{q.MessagesReady}:{q.Consumers}");
        // Exchanges without their rates (they move with the refused publishes' attempts, which change nothing stored).
        var exchanges = (await _admin.GetFromJsonAsync<List<System.Text.Json.Nodes.JsonObject>>(Urls.Exchanges(vhost), GatewayFactory.Json))!
            .Select(x => { x.Remove("rates"); return x.ToJsonString(); });
        return new Snapshot(await Get(Urls.Vhosts), string.Join(",", exchanges), string.Join(",", queues), await Get(Urls.Bindings(vhost)),
            await Get(SecurityUrls.Users), await Get(SecurityUrls.Keys("admin")), await Get("/api/permissions"),
            await Get($"{Urls.Queue(vhost, "keep")}/webhooks"));
    }

    [Fact]
    public async Task Thousands_of_malformed_requests_answer_4xx_problems_and_change_nothing()
    {
        // Arrange: a vhost with an exchange bound to a durable queue holding persistent messages, and a second queue.
        var vhost = await _admin.CreateVhostAsync("bad-input");
        await _admin.DeclareExchangeAsync(vhost, "x");
        await _admin.DeclareQueueAsync(vhost, "keep");
        await _admin.DeclareQueueAsync(vhost, "other", new { durable = false });
        var binding = await _admin.BindAsync(vhost, "x", "keep", "k");
        var payloads = Enumerable.Range(0, StoredMessages).Select(i => $"m-{i:D3}").ToArray();
        await _admin.SendOkAsync(HttpMethod.Post, Urls.PublishBatch(vhost, "x"),
            new { messages = payloads.Select(p => new { routingKey = "k", payload = p, properties = new { deliveryMode = 2 } }) }, HttpStatusCode.OK);
        await _admin.PublishToQueueAsync(vhost, "other", "o");
        var before = await SnapshotAsync(vhost);
        var valid = new Dictionary<string, string>
        {
            ["vhost"] = vhost, ["exchange"] = "x", ["queue"] = "keep", ["id"] = binding.Id, ["user"] = "admin", ["name"] = "hook",
        };
        var endpoints = Endpoints();
        // Every operation of the served API document is in the table (a new endpoint must join the suite).
        var document = JsonNode.Parse(await _admin.GetStringAsync("/openapi/v1.json"))!;
        var operations = document["paths"]!.AsObject().SelectMany(path => path.Value!.AsObject())
            .Select(op => op.Value?["operationId"]?.GetValue<string>()).OfType<string>().ToHashSet();
        operations.ExceptWith(["Liveness", "Readiness"]); // no input to get wrong: they answer 200 to anything
        Assert.Empty(operations.Except(endpoints.Select(e => e.Name)));
        var statuses = new System.Collections.Concurrent.ConcurrentDictionary<int, int>();
        var tried = 0;

        // Act and assert, input by input.
        await Requests(endpoints, valid).SampleAsync(async request =>
        {
            Interlocked.Increment(ref tried);
            var status = await SendAsync(request);
            statuses.AddOrUpdate(status, 1, (_, n) => n + 1);
        }, iter: HttpInputs, threads: 4, print: r => r.ToString());

        var frames = await SendGarbageFramesAsync(vhost);

        // Nothing changed: topology, users, keys, permissions, and every stored message, in order, never delivered.
        Assert.Equal(before, await SnapshotAsync(vhost));
        var stored = await _admin.GetAsync(vhost, "keep", new { max = 1000, leaseSeconds = 60 });
        Assert.Equal(payloads, stored.Select(d => d.Payload));
        Assert.All(stored, d => Assert.False(d.Redelivered, $"{d.Payload} was delivered before"));
        await _admin.SendOkAsync(HttpMethod.Post, Urls.Nack(vhost, "keep"), new { deliveryTags = stored.Select(d => d.DeliveryTag) }, HttpStatusCode.NoContent);

        output.WriteLine($"Bad-input suite: {tried} malformed HTTP requests and {frames} garbage WebSocket frames, {tried + frames} inputs in all.");
        output.WriteLine("Statuses: " + string.Join(", ", statuses.OrderBy(s => s.Key).Select(s => $"{s.Key} × {s.Value}")));
        Assert.True(tried >= HttpInputs, $"Only {tried} requests were tried.");
        Assert.DoesNotContain(401, statuses.Keys); // the refusals are about the input, not the key
        Assert.True(statuses.GetValueOrDefault(400) > HttpInputs / 2, "Most malformed requests should be refused as bad requests.");
    }

    [Fact]
    public async Task A_definitions_file_with_invalid_UTF8_in_a_member_it_would_skip_answers_400_and_imports_nothing()
    {
        // The bytes are inside a member name the import does not know: without the check it skipped them unread.
        byte[] body = [.. """{"queues":[],"exchanges":[],"""u8, (byte)'"', 0xFF, 0xFE, .. """bindings":[],"vhosts":[{"name":"from-bad-file"}]}"""u8];
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");

        var response = await _admin.PostAsync("/api/definitions", content);

        var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.Contains("UTF-8", problem.Detail());
        Assert.Equal(HttpStatusCode.NotFound, (await _admin.GetAsync(Urls.Vhost("from-bad-file"))).StatusCode);
    }

    [Fact]
    public async Task An_encoded_NUL_in_the_path_is_refused_by_Kestrel_itself_with_400()
    {
        var uri = new Uri(gateway.Address.GetLeftPart(UriPartial.Authority) + "/api/vhosts/a%00b/queues/q",
            new UriCreationOptions { DangerousDisablePathAndQueryCanonicalization = true });

        var response = await _admin.SendAsync(new HttpRequestMessage(HttpMethod.Put, uri));

        // The only refusal without a problem document: the request never reaches the application.
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var vhosts = await _admin.GetFromJsonAsync<List<JsonElement>>(Urls.Vhosts, GatewayFactory.Json);
        Assert.DoesNotContain(vhosts!, v => v.GetProperty("name").GetString()!.Contains('\0', StringComparison.Ordinal));
    }

    // Sends one request; asserts a 4xx problem document and answers the status.
    private async Task<int> SendAsync(BadRequest request)
    {
        var uri = new Uri(gateway.Address.GetLeftPart(UriPartial.Authority) + request.Target,
            new UriCreationOptions { DangerousDisablePathAndQueryCanonicalization = true });
        using var message = new HttpRequestMessage(new HttpMethod(request.Method), uri);
        if (request.Body is not null)
        {
            message.Content = new ByteArrayContent(request.Body);
            if (request.ContentType is not null) message.Content.Headers.TryAddWithoutValidation("Content-Type", request.ContentType);
        }
        foreach (var (name, value) in request.Headers) message.Headers.TryAddWithoutValidation(name, value);
        using var response = await _admin.SendAsync(message);
        var status = (int)response.StatusCode;
        var text = await response.Content.ReadAsStringAsync();
        if (status is < 400 or >= 500) throw new InvalidOperationException($"{request} answered {status}: {text}");
        if (response.Content.Headers.ContentType?.MediaType != "application/problem+json")
            throw new InvalidOperationException($"{request} answered {status} without a problem document: '{response.Content.Headers.ContentType}' {text}");
        using var problem = JsonDocument.Parse(text);
        if (!problem.RootElement.TryGetProperty("status", out var s) || s.GetInt32() != status ||
            !problem.RootElement.TryGetProperty("detail", out var d) || string.IsNullOrWhiteSpace(d.GetString()))
            throw new InvalidOperationException($"{request} answered {status} with an incomplete problem: {text}");
        return status;
    }

    // ------------------------------------------------------------------ WebSocket frames

    private static readonly string LongId = new('i', 256);

    private const string InvalidUtf8Frame = "text frame with invalid UTF-8";

    private static Gen<(string Defect, byte[] Bytes, bool Binary)> Frames()
    {
        static (string, byte[], bool) Text(string defect, string text) => (defect, Encoding.UTF8.GetBytes(text), false);
        string[] json =
        [
            "[]", "1", "\"x\"", "null", "{}", "{\"type\":5}", "{\"type\":\"explode\"}", "{\"type\":\"subscribe\"}", "{\"type\":\"subscribe\",\"id\":\"s\"}",
            $"{{\"type\":\"subscribe\",\"id\":\"{LongId}\",\"queue\":\"keep\"}}", "{\"type\":\"subscribe\",\"id\":\"s\",\"queue\":\"keep\",\"prefetch\":0}",
            "{\"type\":\"subscribe\",\"id\":\"s\",\"queue\":\"keep\",\"prefetch\":10001}", "{\"type\":\"subscribe\",\"id\":\"s\",\"queue\":\"keep\",\"prefetch\":\"x\"}",
            "{\"type\":\"subscribe\",\"id\":\"s\",\"queue\":\"keep\",\"ackMode\":\"sometimes\"}", "{\"type\":\"subscribe\",\"id\":\"s\",\"queue\":\"nope\"}",
            $"{{\"type\":\"subscribe\",\"id\":\"s\",\"queue\":\"{LongName}\"}}", "{\"type\":\"subscribe\",\"id\":\"s\",\"queue\":\"keep\",\"prefetch\":1e400}",
            "{\"type\":\"cancel\",\"id\":\"none\"}", "{\"type\":\"ack\",\"deliveryTag\":\"garbage\"}", $"{{\"type\":\"ack\",\"deliveryTag\":\"{Tag}\"}}",
            $"{{\"type\":\"nack\",\"deliveryTag\":\"{Tag}\",\"delayMilliseconds\":-1}}", "{\"type\":\"ack\",\"deliveryTag\":5}", "{\"type\":\"ack\",\"multiple\":\"yes\"}",
            "{\"type\":\"publish\",\"exchange\":\"x\",\"routingKey\":\"k\"}", "{\"type\":\"publish\",\"exchange\":\"x\",\"routingKey\":\"k\",\"payload\":5}",
            "{\"type\":\"publish\",\"exchange\":\"nope\",\"routingKey\":\"k\",\"payload\":\"m\"}", $"{{\"type\":\"publish\",\"exchange\":\"x\",\"routingKey\":\"{LongName}\",\"payload\":\"m\"}}",
            "{\"type\":\"publish\",\"exchange\":\"x\",\"routingKey\":\"k\",\"payload\":\"m\",\"properties\":{\"deliveryMode\":3}}",
            "{\"type\":\"publish\",\"exchange\":\"x\",\"routingKey\":\"k\",\"payload\":\"!!\",\"payloadEncoding\":\"base64\"}",
            "{\"type\":\"publish\",\"exchange\":\"x\",\"routingKey\":\"nowhere\",\"payload\":\"m\",\"mandatory\":true}",
            "{\"type\":\"publish\",\"exchange\":\"x\",\"routingKey\":\"k\",\"payload\":\"m\",\"unknown\":1}", "{\"type\":\"ping\",\"id\":5}",
            $"{{\"type\":\"publish\",\"exchange\":\"{LongName}\",\"routingKey\":\"k\",\"payload\":\"m\"}}",
        ];
        return Weighted(
            (6, Gen.OneOf(json).Select(j => Text("frame " + (j.Length > 60 ? j[..60] + "…" : j), j))),
            (1, Gen.Byte.Array[1, 200].Select(b => ("random binary frame", b, true))),
            (1, Gen.Char['!', '~'].Array[1, 100].Select(c => Text("random text", new string(c) + "}"))),
            (1, Gen.Int[0, json.Length - 1].SelectMany(i => Gen.Int[1, Math.Max(1, json[i].Length - 1)].Select(n => Text("truncated", json[i][..n])))),
            (1, Gen.Int[65, 300].Select(depth => Text($"nested {depth} deep", "{\"type\":\"publish\",\"properties\":" + Deep(depth) + "}"))),
            (1, Gen.Select(Gen.OneOf(InvalidUtf8), Gen.Int[0, json.Length - 1], (bad, i) =>
                (InvalidUtf8Frame, (byte[])[.. Encoding.UTF8.GetBytes(json[i][..1]), .. bad, .. Encoding.UTF8.GetBytes(json[i][1..])], false))));
    }

    // Sends garbage frames over one socket; each must be answered by an error frame with a 4xx status. A text frame
    // that is not UTF-8 breaks the WebSocket protocol itself (RFC 6455 §8.1: the endpoint MUST fail the connection):
    // for those the socket ends (close 1007, or the connection reset right after it), and the next frames go over a
    // new socket. Returns how many frames were sent.
    private async Task<int> SendGarbageFramesAsync(string vhost)
    {
        var sent = 0;
        var socket = await ConnectAsync(vhost);
        try
        {
            foreach (var (defect, bytes, binary) in Frames().Array[FrameInputs].Single())
            {
                sent++;
                (JsonElement Frame, WebSocketCloseStatus? Close) received;
                try
                {
                    await socket.SendAsync(bytes, binary ? WebSocketMessageType.Binary : WebSocketMessageType.Text, true, CancellationToken.None);
                    received = await ReceiveAsync(socket);
                }
                catch (WebSocketException) when (defect == InvalidUtf8Frame)
                {
                    // Failing the connection may end it before its close frame is read (the server resets it).
                    received = (default, WebSocketCloseStatus.InvalidPayloadData);
                }
                catch (Exception e) when (e is WebSocketException or OperationCanceledException)
                {
                    throw new InvalidOperationException($"[{defect}] {Convert.ToHexString(bytes[..Math.Min(bytes.Length, 80)])}: {e.Message}", e);
                }
                var (answer, close) = received;
                if (close is { } status)
                {
                    Assert.True(defect == InvalidUtf8Frame && status == WebSocketCloseStatus.InvalidPayloadData,
                        $"[{defect}] closed the socket with {status}");
                    socket.Dispose();
                    socket = await ConnectAsync(vhost);
                    continue;
                }
                Assert.True(answer.TryGetProperty("type", out var type) && type.GetString() == "error", $"[{defect}] answered {answer.GetRawText()}");
                var code = answer.GetProperty("status").GetInt32();
                Assert.True(code is >= 400 and < 500, $"[{defect}] answered status {code}: {answer.GetRawText()}");
                Assert.False(string.IsNullOrWhiteSpace(answer.GetProperty("detail").GetString()), $"[{defect}] has no detail");
            }
            // Still open and serving after all of it.
            await socket.SendAsync("{\"type\":\"ping\",\"id\":\"last\"}"u8.ToArray(), WebSocketMessageType.Text, true, CancellationToken.None);
            Assert.Equal("pong", (await ReceiveAsync(socket)).Frame.GetProperty("type").GetString());
        }
        finally
        {
            socket.Abort();
            socket.Dispose();
        }
        return sent;
    }

    private async Task<ClientWebSocket> ConnectAsync(string vhost)
    {
        var socket = new ClientWebSocket();
        socket.Options.AddSubProtocol("gateway.v1.json");
        socket.Options.SetRequestHeader("Authorization", "Bearer " + SecuredGateway.AdminKey);
        var url = new Uri($"ws://{gateway.Address.Authority}/api/vhosts/{Uri.EscapeDataString(vhost)}/ws");
        using var timeout = new CancellationTokenSource(Gateway.Testing.SocketClient.FrameTimeout);
        await socket.ConnectAsync(url, timeout.Token);
        return socket;
    }

    // The next frame, or the close status when the server closed the socket instead.
    private static async Task<(JsonElement Frame, WebSocketCloseStatus? Close)> ReceiveAsync(ClientWebSocket socket)
    {
        using var timeout = new CancellationTokenSource(Gateway.Testing.SocketClient.FrameTimeout);
        var buffer = new byte[64 * 1024];
        using var message = new MemoryStream();
        while (true)
        {
            var result = await socket.ReceiveAsync(buffer, timeout.Token);
            if (result.MessageType == WebSocketMessageType.Close) return (default, result.CloseStatus ?? WebSocketCloseStatus.Empty);
            message.Write(buffer, 0, result.Count);
            if (result.EndOfMessage) return (JsonDocument.Parse(message.ToArray()).RootElement.Clone(), null);
        }
    }
}
