using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Prometheus;

namespace Gateway.Server.Metrics;

/// <summary>
/// Exports ASP.NET Core's per-request instruments (<c>http.server.request.duration</c>, <c>http.server.active_requests</c>)
/// under the names and labels prometheus-net's meter adapter gives them, at a fraction of its cost.
/// </summary>
/// <remarks>
/// Every HTTP request records three measurements. The adapter handles each generically: it copies and sorts the tags
/// with LINQ, allocates label arrays, looks the metric up in the factory by name and label names, takes a lifetime
/// lease through a closure and records an exemplar — measured at a third of the cost of a whole publish request
/// (bench/README.md, "HTTP metrics"). Here each measurement reads the tags it knows into a key and finds its series in
/// a dictionary; the prometheus series is made once per distinct key. Tags other than those below are not exported.
/// </remarks>
internal sealed class HttpRequestMetrics : IDisposable
{
    private const string HostingMeter = "Microsoft.AspNetCore.Hosting";
    private const string DurationName = "microsoft_aspnetcore_hosting_http_server_request_duration";
    private const string ActiveName = "microsoft_aspnetcore_hosting_http_server_active_requests";

    // The tags ASP.NET Core records (10.0), as label names in Prometheus' alphabetical order.
    private readonly record struct RequestKey(string? Unhandled, string? ErrorType, string? Method, int Status, string? Route,
        string? Protocol, string? Scheme);

    private readonly IMetricFactory _factory;
    private readonly double[] _buckets;
    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<RequestKey, Histogram.Child> _durations = new();
    private readonly ConcurrentDictionary<(string? Method, string? Scheme), Gauge.Child> _active = new();
    private string? _durationHelp, _activeHelp;

    public HttpRequestMetrics(IMetricFactory factory, object meterScope, double[] buckets)
    {
        _factory = factory;
        _buckets = buckets;
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (!ReferenceEquals(instrument.Meter.Scope, meterScope) || instrument.Meter.Name != HostingMeter) return;
            if (instrument is Histogram<double> { Name: "http.server.request.duration" })
            {
                _durationHelp = Help(instrument);
                listener.EnableMeasurementEvents(instrument);
            }
            else if (instrument is UpDownCounter<long> { Name: "http.server.active_requests" })
            {
                _activeHelp = Help(instrument);
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<double>(OnDuration);
        _listener.SetMeasurementEventCallback<long>(OnActive);
        _listener.Start();
    }

    /// <summary>The instruments ASP.NET Core's hosting meter exports (the others stay with the generic adapter).</summary>
    public static bool Handles(Instrument instrument) =>
        instrument.Meter.Name == HostingMeter && instrument.Name is "http.server.request.duration" or "http.server.active_requests";

    // As the adapter writes it: "(unit) description (instrument type)".
    private static string Help(Instrument instrument) => $"({instrument.Unit}) {instrument.Description} ({instrument.GetType().Name})";

    private void OnDuration(Instrument instrument, double seconds, ReadOnlySpan<KeyValuePair<string, object?>> tags, object? state)
    {
        string? unhandled = null, error = null, method = null, route = null, protocol = null, scheme = null;
        var status = 0;
        foreach (var (name, value) in tags)
        {
            switch (name)
            {
                case "aspnetcore.request.is_unhandled": unhandled = value is bool b ? (b ? "True" : "False") : value?.ToString(); break;
                case "error.type": error = value?.ToString(); break;
                case "http.request.method": method = value as string; break;
                case "http.response.status_code": status = value is int code ? code : 0; break;
                case "http.route": route = value as string; break;
                case "network.protocol.version": protocol = value as string; break;
                case "url.scheme": scheme = value as string; break;
            }
        }
        var key = new RequestKey(unhandled, error, method, status, route, protocol, scheme);
        if (!_durations.TryGetValue(key, out var series)) series = _durations.GetOrAdd(key, NewDurationSeries);
        series.Observe(seconds, Exemplar.None);
    }

    private void OnActive(Instrument instrument, long change, ReadOnlySpan<KeyValuePair<string, object?>> tags, object? state)
    {
        string? method = null, scheme = null;
        foreach (var (name, value) in tags)
        {
            if (name == "http.request.method") method = value as string;
            else if (name == "url.scheme") scheme = value as string;
        }
        if (!_active.TryGetValue((method, scheme), out var series)) series = _active.GetOrAdd((method, scheme), NewActiveSeries);
        series.Inc(change);
    }

    // The label names of a series are those of the tags present, in alphabetical order (as the adapter makes them).
    private Histogram.Child NewDurationSeries(RequestKey key)
    {
        var names = new List<string>(7);
        var values = new List<string>(7);
        void Add(string name, string? value)
        {
            if (value is null) return;
            names.Add(name);
            values.Add(value);
        }
        Add("aspnetcore_request_is_unhandled", key.Unhandled);
        Add("error_type", key.ErrorType);
        Add("http_request_method", key.Method);
        Add("http_response_status_code", key.Status == 0 ? null : key.Status.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Add("http_route", key.Route);
        Add("network_protocol_version", key.Protocol);
        Add("url_scheme", key.Scheme);
        var histogram = _factory.CreateHistogram(DurationName, _durationHelp ?? "", [.. names], new HistogramConfiguration { Buckets = _buckets });
        return histogram.WithLabels([.. values]);
    }

    private Gauge.Child NewActiveSeries((string? Method, string? Scheme) key)
    {
        var names = new List<string>(2);
        var values = new List<string>(2);
        if (key.Method is not null) { names.Add("http_request_method"); values.Add(key.Method); }
        if (key.Scheme is not null) { names.Add("url_scheme"); values.Add(key.Scheme); }
        return _factory.CreateGauge(ActiveName, _activeHelp ?? "", [.. names]).WithLabels([.. values]);
    }

    public void Dispose() => _listener.Dispose();
}
