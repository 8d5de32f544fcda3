using System.Diagnostics.Metrics;
using Gateway.Broker;
using Gateway.Server.Security;
using Gateway.Server.Webhooks;
using Prometheus;

namespace Gateway.Server.Metrics;

/// <summary>
/// What <c>/metrics</c> serves, in Prometheus' text format, from a registry of this server's own (so that several
/// gateways in one process — the tests — never mix their figures).
/// </summary>
/// <remarks>
/// <para>
/// The exporter is prometheus-net (prometheus-net.AspNetCore 8.2.1, MIT), not OpenTelemetry's Prometheus exporter: the
/// only versions of the latter served are pre-releases (1.20.1-beta.1), documented by OpenTelemetry as not for
/// production, while prometheus-net is a stable release built for exactly this (a scrape endpoint in ASP.NET Core). The
/// instrumentation itself is not tied to it: the journal (Gateway.Storage) and ASP.NET Core (HTTP requests, Kestrel
/// connections) record through .NET's System.Diagnostics.Metrics, which prometheus-net's meter adapter exports here
/// and which OpenTelemetry could export unchanged.
/// </para>
/// <para>
/// Broker figures are read when Prometheus scrapes (a before-collect callback): queue counts and counters come
/// straight from the engine's lock-free counters, so nothing is added to the publish path. Series of deleted queues and
/// exchanges are removed at the next scrape.
/// </para>
/// </remarks>
public sealed class GatewayMetrics : IDisposable
{
    private static readonly string[] QueueLabels = ["vhost", "queue"];
    private static readonly string[] ExchangeLabels = ["vhost", "exchange"];
    private static readonly string[] WebhookLabels = ["vhost", "queue", "webhook"];

    private readonly IBroker _broker;
    private readonly WebhookDispatcher _webhooks;
    private readonly IDisposable _meterAdapter;
    private readonly HttpRequestMetrics _httpRequests;
    private readonly Gauge _vhosts, _exchanges, _queues, _bindings, _consumers, _ready, _unacked, _rates;
    private readonly Gauge _queueReady, _queueUnacked, _queueConsumers, _queueBytes, _queueOldestAge;
    private readonly Counter _queuePublished, _queueDelivered, _queueAcked, _queueRedelivered, _queueDeadLettered;
    private readonly Counter _exchangeIn, _exchangeOut;
    private readonly Gauge _webSockets, _eventStreams;
    private readonly Counter _webSocketsOpened;
    private readonly Counter _webhookDelivered, _webhookRetried, _webhookFailed;
    private readonly Gauge _webhookInFlight, _webhookLag, _webhookDisabled;
    private readonly SemaphoreSlim _collecting = new(1, 1);
    // What tells each series' queue or exchange apart from a later one of the same name: a queue or exchange deleted
    // and declared again starts its counters from 0, so its series must be dropped and begun again rather than carried
    // on. A queue's incarnation; an exchange's published-in count, which only falls when it is another exchange.
    private Dictionary<(string, string), ulong> _queueSeries = [];
    private Dictionary<(string, string), long> _exchangeSeries = [];
    private HashSet<(string, string)> _agedSeries = [];
    private Dictionary<WebhookKey, WebhookSubscription> _webhookSeries = [];

    /// <param name="broker">The engine whose figures are exported.</param>
    /// <param name="meterFactory">This host's meter factory: instruments of its meters (and only those) are exported.</param>
    /// <param name="webhooks">The webhooks whose deliveries are exported.</param>
    internal GatewayMetrics(IBroker broker, IMeterFactory meterFactory, WebhookDispatcher webhooks)
    {
        _broker = broker;
        _webhooks = webhooks;
        Registry = Prometheus.Metrics.NewCustomRegistry();
        var f = Prometheus.Metrics.WithCustomRegistry(Registry);

        _vhosts = f.CreateGauge("gateway_vhosts", "Virtual hosts.");
        _exchanges = f.CreateGauge("gateway_exchanges", "Exchanges, the default and amq.* ones included.");
        _queues = f.CreateGauge("gateway_queues", "Queues.");
        _bindings = f.CreateGauge("gateway_bindings", "Explicit bindings.");
        _consumers = f.CreateGauge("gateway_consumers", "Active subscriptions (WebSocket, Server-Sent Events).");
        _ready = f.CreateGauge("gateway_messages_ready", "Messages waiting for delivery, over all queues.");
        _unacked = f.CreateGauge("gateway_messages_unacked", "Messages delivered and not yet acknowledged, over all queues.");
        _rates = f.CreateGauge("gateway_message_rate", "Messages per second over the sliding window (as GET /api/overview): " +
                               "publish to exchanges; deliver, ack, redeliver and dead_letter summed over queues.", "kind");

        _queueReady = f.CreateGauge("gateway_queue_messages_ready", "Messages waiting for delivery.", QueueLabels);
        _queueUnacked = f.CreateGauge("gateway_queue_messages_unacked", "Messages delivered and not yet acknowledged.", QueueLabels);
        _queueConsumers = f.CreateGauge("gateway_queue_consumers", "Active subscriptions.", QueueLabels);
        _queueBytes = f.CreateGauge("gateway_queue_message_bytes", "Payload bytes of the ready messages.", QueueLabels);
        _queueOldestAge = f.CreateGauge("gateway_queue_oldest_ready_age_seconds",
            "Seconds the oldest ready message has waited; no series while the queue has no ready message.", QueueLabels);
        _queuePublished = f.CreateCounter("gateway_queue_published_total", "Messages that entered the queue.", QueueLabels);
        _queueDelivered = f.CreateCounter("gateway_queue_delivered_total", "Deliveries and pulls, redeliveries included.", QueueLabels);
        _queueAcked = f.CreateCounter("gateway_queue_acked_total", "Deliveries acknowledged.", QueueLabels);
        _queueRedelivered = f.CreateCounter("gateway_queue_redelivered_total", "Deliveries of messages delivered before.", QueueLabels);
        _queueDeadLettered = f.CreateCounter("gateway_queue_dead_lettered_total", "Messages dead-lettered from the queue.", QueueLabels);
        _exchangeIn = f.CreateCounter("gateway_exchange_published_in_total", "Messages published to the exchange.", ExchangeLabels);
        _exchangeOut = f.CreateCounter("gateway_exchange_published_out_total", "Messages routed from the exchange into queues, one per queue.", ExchangeLabels);

        _webSockets = f.CreateGauge("gateway_websocket_connections", "Open WebSocket connections.");
        _webSocketsOpened = f.CreateCounter("gateway_websocket_connections_opened_total", "WebSocket connections accepted.");
        _eventStreams = f.CreateGauge("gateway_event_streams", "Open Server-Sent Events streams.");
        // Webhooks (their counters start at 0 when the gateway starts, as Prometheus counters may).
        _webhookDelivered = f.CreateCounter("gateway_webhook_delivered_total", "Messages the webhook's receiver acknowledged with a 2xx.", WebhookLabels);
        _webhookRetried = f.CreateCounter("gateway_webhook_retried_total",
            "Attempts that failed and were scheduled again (429, 5xx, timeouts, connection errors).", WebhookLabels);
        _webhookFailed = f.CreateCounter("gateway_webhook_failed_total",
            "Messages given up on (another 4xx, or retries exhausted): rejected to the queue's dead-letter exchange.", WebhookLabels);
        _webhookInFlight = f.CreateGauge("gateway_webhook_in_flight", "Messages being delivered or waiting for their next attempt.", WebhookLabels);
        _webhookLag = f.CreateGauge("gateway_webhook_lag_seconds", "How long the oldest message in flight has been (0 when none).", WebhookLabels);
        _webhookDisabled = f.CreateGauge("gateway_webhook_disabled", "1 when the webhook is disabled (its receiver answered 410), else 0.", WebhookLabels);

        Registry.AddBeforeCollectCallback(Collect);
        // .NET meters of this host only: the journal's (Gateway.Storage), ASP.NET Core's request metrics
        // (http_server_request_duration_seconds, http_server_active_requests) and Kestrel's connection metrics.
        _meterAdapter = MeterAdapter.StartListening(new MeterAdapterOptions
        {
            Registry = Registry,
            MetricFactory = f,
            ResolveHistogramBuckets = instrument => instrument.Unit == "s" ? SecondsBuckets : CountBuckets,
            InstrumentFilterPredicate = instrument => ReferenceEquals(instrument.Meter.Scope, meterFactory) &&
                instrument.Meter.Name is StorageMeterName or "Microsoft.AspNetCore.Hosting" or "Microsoft.AspNetCore.Server.Kestrel" &&
                !HttpRequestMetrics.Handles(instrument),
        });
        // The per-request instruments are exported by a bridge of their own: through the adapter they cost a third of a publish.
        _httpRequests = new HttpRequestMetrics(f, meterFactory, SecondsBuckets);
    }

    // Journal commits take from tens of microseconds (no fsync) to a second (a slow disk); HTTP requests alike.
    private static readonly double[] SecondsBuckets = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
    // Operations per journal batch: 1 alone, up to the writer's 16,384 cap.
    private static readonly double[] CountBuckets = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384];

    /// <summary>The name of the meter the journal records to.</summary>
    public const string StorageMeterName = "Gateway.Storage";

    /// <summary>This server's registry, served at /metrics.</summary>
    public CollectorRegistry Registry { get; }

    /// <summary>A WebSocket connection was accepted; dispose the result when it closes.</summary>
    public IDisposable WebSocketOpened()
    {
        _webSocketsOpened.Inc();
        return _webSockets.TrackInProgress();
    }

    /// <summary>A Server-Sent Events stream started; dispose the result when it ends.</summary>
    public IDisposable EventStreamOpened() => _eventStreams.TrackInProgress();

    private async Task Collect(CancellationToken cancellationToken)
    {
        await _collecting.WaitAsync(cancellationToken);
        try
        {
            var overview = await _broker.GetOverviewAsync(cancellationToken);
            _vhosts.Set(overview.Vhosts);
            _exchanges.Set(overview.Exchanges);
            _queues.Set(overview.Queues);
            _bindings.Set(overview.Bindings);
            _consumers.Set(overview.Consumers);
            _ready.Set(overview.MessagesReady);
            _unacked.Set(overview.MessagesUnacknowledged);
            _rates.WithLabels("publish").Set(overview.Rates.Publish);
            _rates.WithLabels("deliver").Set(overview.Rates.Deliver);
            _rates.WithLabels("ack").Set(overview.Rates.Ack);
            _rates.WithLabels("redeliver").Set(overview.Rates.Redeliver);
            _rates.WithLabels("dead_letter").Set(overview.Rates.DeadLetter);

            var queues = new Dictionary<(string, string), ulong>();
            var aged = new HashSet<(string, string)>();
            var exchanges = new Dictionary<(string, string), long>();
            foreach (var vhostName in await _broker.ListVhostsAsync(cancellationToken))
            {
                if (await _broker.GetVhostAsync(vhostName, cancellationToken) is not { } vhost) continue; // deleted meanwhile
                foreach (var queue in await vhost.ListQueuesAsync(cancellationToken))
                {
                    var name = queue.Definition.Name;
                    string[] labels = [vhost.Name, name];
                    var key = (vhost.Name, name);
                    queues[key] = queue.Incarnation;
                    if (_queueSeries.TryGetValue(key, out var before) && before != queue.Incarnation) RemoveQueueSeries(key);
                    var status = queue.Status;
                    _queueReady.WithLabels(labels).Set(status.MessagesReady);
                    _queueUnacked.WithLabels(labels).Set(status.MessagesUnacknowledged);
                    _queueConsumers.WithLabels(labels).Set(status.Consumers);
                    _queueBytes.WithLabels(labels).Set(status.MessageBytesReady);
                    if (status.OldestReadyAge is { } age)
                    {
                        aged.Add(key);
                        _queueOldestAge.WithLabels(labels).Set(age.TotalSeconds);
                    }
                    if (status.Counters is not { } s) continue;
                    _queuePublished.WithLabels(labels).IncTo(s.Published);
                    _queueDelivered.WithLabels(labels).IncTo(s.Delivered);
                    _queueAcked.WithLabels(labels).IncTo(s.Acknowledged);
                    _queueRedelivered.WithLabels(labels).IncTo(s.Redelivered);
                    _queueDeadLettered.WithLabels(labels).IncTo(s.DeadLettered);
                }
                foreach (var exchange in await vhost.ListExchangesAsync(cancellationToken))
                {
                    var name = exchange.Definition.Name.Length == 0 ? "amq.default" : exchange.Definition.Name;
                    var key = (vhost.Name, name);
                    exchanges[key] = exchange.PublishedIn;
                    if (_exchangeSeries.TryGetValue(key, out var before) && before > exchange.PublishedIn) RemoveExchangeSeries(key);
                    _exchangeIn.WithLabels(vhost.Name, name).IncTo(exchange.PublishedIn);
                    _exchangeOut.WithLabels(vhost.Name, name).IncTo(exchange.PublishedOut);
                }
            }
            var webhooks = new Dictionary<WebhookKey, WebhookSubscription>();
            foreach (var webhook in _webhooks.ListAll())
            {
                var key = webhook.Key;
                webhooks[key] = webhook;
                if (_webhookSeries.TryGetValue(key, out var before) && before != webhook) RemoveWebhookSeries(key);
                string[] labels = [key.Vhost, key.Queue, key.Name];
                var status = await webhook.StatusAsync();
                _webhookDelivered.WithLabels(labels).IncTo(status.Delivered);
                _webhookRetried.WithLabels(labels).IncTo(status.Retried);
                _webhookFailed.WithLabels(labels).IncTo(status.Failed);
                _webhookInFlight.WithLabels(labels).Set(status.InFlight);
                _webhookLag.WithLabels(labels).Set(status.LagMilliseconds / 1000.0);
                _webhookDisabled.WithLabels(labels).Set(status.State == Contracts.WebhookState.Disabled ? 1 : 0);
            }
            foreach (var key in _webhookSeries.Keys.Where(k => !webhooks.ContainsKey(k))) RemoveWebhookSeries(key);
            _webhookSeries = webhooks;
            foreach (var key in _queueSeries.Keys.Where(k => !queues.ContainsKey(k))) RemoveQueueSeries(key);
            foreach (var (vhost, queue) in _agedSeries.Except(aged)) _queueOldestAge.RemoveLabelled(vhost, queue);
            foreach (var key in _exchangeSeries.Keys.Where(k => !exchanges.ContainsKey(k))) RemoveExchangeSeries(key);
            (_queueSeries, _agedSeries, _exchangeSeries) = (queues, aged, exchanges);
        }
        finally
        {
            _collecting.Release();
        }
    }

    private void RemoveQueueSeries((string Vhost, string Queue) key)
    {
        foreach (var gauge in new[] { _queueReady, _queueUnacked, _queueConsumers, _queueBytes, _queueOldestAge })
            gauge.RemoveLabelled(key.Vhost, key.Queue);
        foreach (var counter in new[] { _queuePublished, _queueDelivered, _queueAcked, _queueRedelivered, _queueDeadLettered })
            counter.RemoveLabelled(key.Vhost, key.Queue);
    }

    private void RemoveWebhookSeries(WebhookKey key)
    {
        foreach (var counter in new[] { _webhookDelivered, _webhookRetried, _webhookFailed })
            counter.RemoveLabelled(key.Vhost, key.Queue, key.Name);
        foreach (var gauge in new[] { _webhookInFlight, _webhookLag, _webhookDisabled })
            gauge.RemoveLabelled(key.Vhost, key.Queue, key.Name);
    }

    private void RemoveExchangeSeries((string Vhost, string Exchange) key)
    {
        _exchangeIn.RemoveLabelled(key.Vhost, key.Exchange);
        _exchangeOut.RemoveLabelled(key.Vhost, key.Exchange);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _httpRequests.Dispose();
        _meterAdapter.Dispose();
    }
}

/// <summary>
/// Creates <see cref="GatewayMetrics"/> when the host starts, so that its meter listener records from the start (a .NET
/// measurement made before a listener attaches is lost), yet after settings have been validated.
/// </summary>
internal sealed class MetricsStartup(GatewayMetrics metrics) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        GC.KeepAlive(metrics);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

internal static class MetricsEndpoint
{
    /// <summary>
    /// GET /metrics. The registry is resolved per request (not when the route is mapped), so that nothing — the broker,
    /// the database — is created before the host starts and validates its settings.
    /// </summary>
    public static void MapGatewayMetrics(this IEndpointRouteBuilder app) =>
        app.MapGet("/metrics", async (HttpContext context, GatewayMetrics metrics) =>
            {
                context.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
                await metrics.Registry.CollectAndExportAsTextAsync(context.Response.Body, context.RequestAborted);
            })
            // Prometheus scrapes with the key of a user tagged monitoring (authorization: credentials in its scrape config).
            .RequiresTag(Access.Administrator, Access.Management, "monitoring")
            .ProducesProblem(StatusCodes.Status401Unauthorized).ProducesProblem(StatusCodes.Status403Forbidden)
            .WithTags("Operations").WithName("Metrics").WithSummary("Metrics in Prometheus' text format (version 0.0.4)")
            .Produces<string>(StatusCodes.Status200OK, "text/plain");
}
