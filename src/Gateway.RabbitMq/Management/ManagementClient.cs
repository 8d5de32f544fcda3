using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Gateway.Broker;
using Microsoft.Extensions.Logging;

namespace Gateway.RabbitMq.Management;

/// <summary>
/// The RabbitMQ management HTTP API (<c>rabbitmq_management</c>): listings, counts and rates, vhosts, exchange
/// declarations and unbinding. Endpoints are tried in turn; when none answers, <see cref="BrokerUnavailableException"/>.
/// </summary>
/// <remarks>Queue and message figures in it lag by up to the stats interval (~5 s); exact counts come from AMQP.</remarks>
internal sealed class ManagementClient : IDisposable
{
    private readonly IReadOnlyList<Uri> _endpoints;
    private readonly HttpClient _http;
    private readonly ILogger _logger;
    private int _preferred;

    public ManagementClient(RabbitMqOptions options, ILogger logger)
    {
        _endpoints = options.ManagementEndpoints;
        _logger = logger;
        _http = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5), ConnectTimeout = options.ConnectTimeout })
        {
            Timeout = options.ManagementTimeout,
        };
        var (user, password) = options.ManagementCredentials;
        _http.DefaultRequestHeaders.Authorization =
            new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}")));
    }

    /// <summary>A path segment for a vhost, exchange or queue name.</summary>
    public static string Segment(string name) => Uri.EscapeDataString(name);

    /// <summary>GET; null on 404.</summary>
    public async Task<JsonDocument?> GetAsync(string path, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(HttpMethod.Get, path, null, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound) return null;
        await EnsureSuccessAsync(response, path, cancellationToken).ConfigureAwait(false);
        var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        return await JsonDocument.ParseAsync(stream, cancellationToken: cancellationToken).ConfigureAwait(false);
    }

    /// <summary>PUT with a JSON body; returns the status (2xx), throws a <see cref="BrokerException"/> on 400 (e.g. an inequivalent redeclare).</summary>
    public async Task<HttpStatusCode> PutAsync(string path, Action<Utf8JsonWriter> body, CancellationToken cancellationToken)
    {
        var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer)) body(writer);
        using var response = await SendAsync(HttpMethod.Put, path, buffer.ToArray(), cancellationToken).ConfigureAwait(false);
        await EnsureSuccessAsync(response, path, cancellationToken).ConfigureAwait(false);
        return response.StatusCode;
    }

    /// <summary>DELETE; false on 404.</summary>
    public async Task<bool> DeleteAsync(string path, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(HttpMethod.Delete, path, null, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound) return false;
        await EnsureSuccessAsync(response, path, cancellationToken).ConfigureAwait(false);
        return true;
    }

    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, byte[]? body, CancellationToken cancellationToken)
    {
        Exception? last = null;
        var start = Volatile.Read(ref _preferred);
        for (var i = 0; i < _endpoints.Count; i++)
        {
            var index = (start + i) % _endpoints.Count;
            var endpoint = _endpoints[index];
            using var request = new HttpRequestMessage(method, new Uri(endpoint, path));
            if (body is not null) request.Content = new ByteArrayContent(body) { Headers = { ContentType = new MediaTypeHeaderValue("application/json") } };
            try
            {
                var response = await _http.SendAsync(request, cancellationToken).ConfigureAwait(false);
                if ((int)response.StatusCode >= 500)
                {
                    // A node that is shutting down or has lost the cluster answers 5xx: try the next one.
                    last = new HttpRequestException($"{(int)response.StatusCode} {response.ReasonPhrase}");
                    response.Dispose();
                    continue;
                }
                Volatile.Write(ref _preferred, index);
                return response;
            }
            catch (HttpRequestException e) { last = e; }
            catch (TaskCanceledException e) when (!cancellationToken.IsCancellationRequested) { last = e; }
            Log.ManagementFailed(_logger, endpoint.ToString(), last!.Message);
        }
        throw new BrokerUnavailableException($"The RabbitMQ management API cannot be reached ({last?.Message}).", TimeSpan.FromSeconds(2), last);
    }

    private static async Task EnsureSuccessAsync(HttpResponseMessage response, string path, CancellationToken cancellationToken)
    {
        if (response.IsSuccessStatusCode) return;
        var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        var reason = text;
        try
        {
            using var doc = JsonDocument.Parse(text);
            if (doc.RootElement.TryGetProperty("reason", out var r)) reason = r.ToString();
        }
        catch (JsonException) { }
        throw response.StatusCode switch
        {
            HttpStatusCode.BadRequest when reason.Contains("inequivalent", StringComparison.OrdinalIgnoreCase) =>
                new BrokerException(BrokerError.PreconditionFailed, $"RabbitMQ refused: {reason}"),
            HttpStatusCode.BadRequest => new BrokerException(BrokerError.InvalidArgument, $"RabbitMQ refused: {reason}"),
            HttpStatusCode.NotFound => new BrokerException(BrokerError.NotFound, $"RabbitMQ: {reason}"),
            HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden => new BrokerException(BrokerError.AccessRefused,
                $"The RabbitMQ management API refused the gateway's user ({(int)response.StatusCode}): {reason}"),
            _ => new BrokerException(BrokerError.InvalidArgument, $"RabbitMQ management API {path}: {(int)response.StatusCode} {reason}"),
        };
    }

    public void Dispose() => _http.Dispose();
}

/// <summary>JSON of the management API to gateway values and back.</summary>
internal static class ManagementJson
{
    /// <summary>
    /// A JSON value as a gateway field-table value. Numbers keep the type their text shows, as the server's JSON does:
    /// <c>1</c> is a long, <c>1.0</c> and <c>1e3</c> are doubles (RabbitMQ writes an AMQP float with a fraction or an
    /// exponent, and an integer without).
    /// </summary>
    public static object? Value(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.String => e.GetString(),
        JsonValueKind.Number => Number(e),
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        JsonValueKind.Array => e.EnumerateArray().Select(Value).ToList(),
        JsonValueKind.Object => Table(e),
        _ => null,
    };

    private static object Number(JsonElement e)
    {
        var raw = e.GetRawText();
        return raw.AsSpan().IndexOfAny('.', 'e', 'E') < 0 && e.TryGetInt64(out var l) ? l : (object)e.GetDouble();
    }

    /// <summary>A JSON object as a table; null when empty or absent.</summary>
    public static Dictionary<string, object?>? Table(JsonElement e)
    {
        if (e.ValueKind != JsonValueKind.Object) return null;
        var table = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var p in e.EnumerateObject()) table[p.Name] = Value(p.Value);
        return table.Count == 0 ? null : table;
    }

    public static void Write(Utf8JsonWriter w, object? value)
    {
        switch (value)
        {
            case null: w.WriteNullValue(); break;
            case string s: w.WriteStringValue(s); break;
            case long l: w.WriteNumberValue(l); break;
            case int i: w.WriteNumberValue(i); break;
            case double d when double.IsFinite(d):
                // Utf8JsonWriter writes 1.0 as 1, which RabbitMQ would store (and list) as an integer.
                var text = d.ToString("R", System.Globalization.CultureInfo.InvariantCulture);
                w.WriteRawValue(text.AsSpan().IndexOfAny('.', 'E', 'e') < 0 ? text + ".0" : text, skipInputValidation: true);
                break;
            case double d: w.WriteStringValue(d.ToString(System.Globalization.CultureInfo.InvariantCulture)); break;
            case bool b: w.WriteBooleanValue(b); break;
            case byte[] bytes: w.WriteStringValue(Convert.ToBase64String(bytes)); break;
            case IReadOnlyDictionary<string, object?> t:
                w.WriteStartObject();
                foreach (var (k, v) in t)
                {
                    w.WritePropertyName(k);
                    Write(w, v);
                }
                w.WriteEndObject();
                break;
            case IEnumerable<object?> list:
                w.WriteStartArray();
                foreach (var v in list) Write(w, v);
                w.WriteEndArray();
                break;
            default: w.WriteStringValue(value.ToString()); break;
        }
    }

    public static string? String(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    public static bool Bool(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.True;

    public static long Long(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out var l) ? l : 0;

    /// <summary>A rate such as <c>message_stats.publish_details.rate</c>; 0 when absent.</summary>
    public static double Rate(JsonElement e, string stat)
    {
        if (!e.TryGetProperty("message_stats", out var stats) || stats.ValueKind != JsonValueKind.Object) return 0;
        if (!stats.TryGetProperty(stat + "_details", out var details) || details.ValueKind != JsonValueKind.Object) return 0;
        return details.TryGetProperty("rate", out var rate) && rate.ValueKind == JsonValueKind.Number ? rate.GetDouble() : 0;
    }

    /// <summary>A total such as <c>message_stats.publish</c>; 0 when absent.</summary>
    public static long Total(JsonElement e, string stat) =>
        e.TryGetProperty("message_stats", out var stats) && stats.ValueKind == JsonValueKind.Object ? Long(stats, stat) : 0;
}
