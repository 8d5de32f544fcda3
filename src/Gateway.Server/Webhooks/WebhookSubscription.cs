using System.Collections.Concurrent;
using System.Net;
using Gateway.Broker;
using Gateway.Broker.Durability;
using Gateway.Broker.Queues;
using Gateway.Server.Contracts;

namespace Gateway.Server.Webhooks;

/// <summary>What the dispatcher gives every subscription.</summary>
internal sealed record WebhookRuntime(AddressPolicy Policy, WebhookOptions Options, TimeProvider Time, ILogger Logger,
    Action<WebhookSubscription, string> Disable, Action<WebhookSubscription> Ended);

/// <summary>
/// One webhook at work: a consumer of its queue with prefetch = concurrency, and one task per delivery that POSTs it
/// until the endpoint answers 2xx (ack), refuses it (reject: dead-lettered), answers 410 (the webhook is disabled and
/// the message goes back to the queue) or the retry policy gives up (reject). A message waiting for a retry holds one
/// slot of the concurrency, not the others: with concurrency 1 it holds back the next message, which keeps the order.
/// </summary>
/// <remarks>
/// Answers and failures, and what each does (the edge cases of the status codes):
/// <list type="bullet">
/// <item>2xx: acknowledged. The body is not read.</item>
/// <item>410 Gone: the endpoint says it will never take deliveries again; the webhook is disabled (its status says so)
/// and the message returns to the queue, so nothing is lost until someone re-enables or deletes it.</item>
/// <item>408, 425, 429 and 5xx: retried; <c>Retry-After</c> (seconds or a date) sets the least wait.</item>
/// <item>1xx and 3xx: retried (redirects are never followed: a redirect could lead anywhere, past the address check).</item>
/// <item>Any other 4xx: rejected without retry; the endpoint refuses this message.</item>
/// <item>No answer within the timeout, a refused or reset connection, a DNS or TLS failure, or an address the policy
/// refuses: retried (a DNS answer or an endpoint may come back).</item>
/// <item>The gateway stops, the webhook is paused, changed or deleted: the attempt is abandoned and the message returns
/// to the queue, redelivered later (at-least-once: the endpoint may have processed it; the <c>webhook-id</c> lets it
/// deduplicate).</item>
/// <item>The queue is deleted: the webhook ends with it.</item>
/// </list>
/// The retry state (attempt number, first attempt time) lives in memory: after a crash the message is redelivered by
/// the queue (its delivery count, on disk, tells) and its schedule starts again.
/// </remarks>
internal sealed partial class WebhookSubscription
{
    /// <summary>The header of a dead-lettered copy that says why the webhook rejected it.</summary>
    public const string ErrorHeader = "x-webhook-error";
    /// <summary>The header of a dead-lettered copy that names the webhook.</summary>
    public const string NameHeader = "x-webhook-name";
    private const int MaxErrorHeaderLength = 1024;

    private readonly WebhookRuntime _runtime;
    private readonly ConcurrentDictionary<long, DateTimeOffset> _inFlight = new();
    private readonly Queue<WebhookFailure> _recentFailures = new();
    private readonly Lock _statusLock = new();
    private Run? _run;
    private long _delivered, _retried, _failed;
    private string? _lastError;
    private DateTimeOffset? _lastErrorAt, _lastDeliveredAt;

    public WebhookSubscription(WebhookKey key, IBrokerQueue queue, WebhookDefinition definition, string? disabledReason,
        DateTimeOffset? disabledAt, WebhookRuntime runtime)
    {
        Key = key;
        Queue = queue;
        Definition = definition;
        DisabledReason = disabledReason;
        DisabledAt = disabledAt;
        _runtime = runtime;
    }

    public WebhookKey Key { get; }
    public IBrokerQueue Queue { get; }
    public WebhookDefinition Definition { get; set; }
    public string? DisabledReason { get; set; }
    public DateTimeOffset? DisabledAt { get; set; }
    public bool IsRunning => _run is not null;

    public WebhookState State => DisabledReason is not null ? WebhookState.Disabled : Definition.Enabled ? WebhookState.Active : WebhookState.Paused;

    /// <summary>The stored form.</summary>
    public StoredWebhook ToStored() => new(Key.Vhost, Key.Queue, Key.Name, Definition.Serialize(), DisabledReason, DisabledAt);

    /// <summary>
    /// Starts delivering when the webhook is active and not running yet. Called under the dispatcher's gate. A queue
    /// deleted meanwhile ends the subscription at once, and the webhook with it (as a deletion while running does).
    /// </summary>
    public async Task StartAsync()
    {
        if (_run is not null || State != WebhookState.Active) return;
        var definition = Definition;
        var consumer = await Queue.SubscribeAsync(definition.Concurrency).ConfigureAwait(false);
        var handler = WebhookHttp.CreateHandler(_runtime.Policy, definition.Concurrency,
            TimeSpan.FromMilliseconds(Math.Min(definition.TimeoutMilliseconds, 10_000)));
        var run = new Run(this, definition, new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan }, consumer);
        _run = run;
        run.Loop = Task.Run(run.LoopAsync);
    }

    /// <summary>
    /// Stops delivering: attempts in flight are abandoned and their messages return to the queue. Called under the
    /// dispatcher's gate, never from a delivery task (it waits for them).
    /// </summary>
    public async Task StopAsync()
    {
        if (_run is not { } run) return;
        _run = null;
        await run.StopAsync().ConfigureAwait(false);
    }

    /// <summary>Forgets the run after it ended by itself (its queue was deleted).</summary>
    public void Detach() => _run = null;

    public async ValueTask<WebhookStatus> StatusAsync()
    {
        var backlog = (await Queue.GetStatusAsync().ConfigureAwait(false)).MessagesReady;
        var now = _runtime.Time.GetUtcNow();
        // One snapshot for both figures: checking IsEmpty and then taking Min of the live values raced with the last
        // delivery finishing (Min of nothing threw, and GET …/webhooks/{name} or /metrics answered 500).
        var inFlight = _inFlight.Values;
        DateTimeOffset? oldest = inFlight.Count == 0 ? null : inFlight.Min();
        lock (_statusLock)
        {
            return new WebhookStatus
            {
                State = State,
                DisabledReason = DisabledReason,
                DisabledAt = DisabledAt,
                Delivered = Interlocked.Read(ref _delivered),
                Retried = Interlocked.Read(ref _retried),
                Failed = Interlocked.Read(ref _failed),
                InFlight = inFlight.Count,
                Backlog = backlog,
                LagMilliseconds = oldest is { } since ? Math.Max(0, (long)(now - since).TotalMilliseconds) : 0,
                LastError = _lastError,
                LastErrorAt = _lastErrorAt,
                LastDeliveredAt = _lastDeliveredAt,
                RecentFailures = [.. _recentFailures],
            };
        }
    }

    private void RecordFailure(string id, int attempt, int? status, string error, string outcome)
    {
        var at = _runtime.Time.GetUtcNow();
        lock (_statusLock)
        {
            _lastError = error;
            _lastErrorAt = at;
            _recentFailures.Enqueue(new WebhookFailure { At = at, WebhookId = id, Attempt = attempt, Status = status, Error = error, Outcome = outcome });
            while (_recentFailures.Count > _runtime.Options.RecentFailures) _recentFailures.Dequeue();
        }
    }

    private enum Verdict { Delivered, Retry, Reject, Gone }

    private readonly record struct AttemptResult(Verdict Verdict, int? Status, string? Error, TimeSpan? RetryAfter = null);

    /// <summary>One start-to-stop span of delivering, with its own consumer, HTTP client and cancellation.</summary>
    private sealed class Run(WebhookSubscription owner, WebhookDefinition definition, HttpClient http, IBrokerSubscription consumer)
    {
        private readonly CancellationTokenSource _stopping = new();
        private readonly ConcurrentDictionary<long, Task> _deliveries = new();
        private readonly Uri _url = new(definition.Url);
        private readonly RetrySchedule _schedule = definition.Schedule();
        private volatile bool _disabling;

        public Task Loop { get; set; } = Task.CompletedTask;

        public async Task LoopAsync()
        {
            var token = _stopping.Token;
            var reader = consumer.Deliveries;
            try
            {
                while (await reader.WaitToReadAsync(token).ConfigureAwait(false))
                    while (reader.TryRead(out var delivery))
                    {
                        var task = DeliverAsync(delivery, token);
                        _deliveries[delivery.Tag.Id] = task;
                        var tagId = delivery.Tag.Id;
                        _ = task.ContinueWith(_ => _deliveries.TryRemove(tagId, out Task? _), CancellationToken.None,
                            TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
                    }
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                // Stopping: StopAsync returns the deliveries to the queue.
            }
            if (consumer.EndReason == ConsumerEndReason.QueueDeleted && !token.IsCancellationRequested)
            {
                // The queue is gone, and its messages with it: the webhook ends too.
                await _stopping.CancelAsync().ConfigureAwait(false);
                await Task.WhenAll(_deliveries.Values).ConfigureAwait(false);
                http.Dispose();
                owner._runtime.Ended(owner);
            }
        }

        public async Task StopAsync()
        {
            await _stopping.CancelAsync().ConfigureAwait(false);
            await Loop.ConfigureAwait(false);
            await Task.WhenAll(_deliveries.Values).ConfigureAwait(false);
            // Only now, with every delivery task finished (none can ack any more), do the unsettled messages go back.
            // An auto-delete queue is not deleted here: pausing or changing a webhook must not delete its queue.
            try
            {
                await consumer.StopAsync().ConfigureAwait(false);
            }
            catch (BrokerUnavailableException)
            {
                // The backend is out of reach: the consumer ended with its connection, its messages went back there.
            }
            http.Dispose();
            _stopping.Dispose();
        }

        private async Task DeliverAsync(Delivery delivery, CancellationToken token)
        {
            await Task.Yield(); // the reading loop goes on at once; the delivery runs on the thread pool
            var time = owner._runtime.Time;
            var first = time.GetUtcNow();
            owner._inFlight[delivery.Tag.Id] = first;
            try
            {
                var id = WebhookRequests.WebhookId(owner.Queue, delivery);
                var body = WebhookRequests.Body(definition.Format, owner.Key, delivery, id);
                for (var attempt = 1; !_disabling; attempt++)
                {
                    var result = await AttemptAsync(delivery, id, body, attempt, token).ConfigureAwait(false);
                    switch (result.Verdict)
                    {
                        case Verdict.Delivered:
                            await SettleAsync(delivery, reject: null).ConfigureAwait(false);
                            Interlocked.Increment(ref owner._delivered);
                            lock (owner._statusLock) owner._lastDeliveredAt = time.GetUtcNow();
                            return;
                        case Verdict.Gone:
                            owner.RecordFailure(id, attempt, result.Status, result.Error!, "disabled");
                            _disabling = true;
                            owner._runtime.Disable(owner, $"The endpoint answered 410 Gone ({result.Error}).");
                            return; // unsettled: back to the queue when the webhook stops
                        case Verdict.Reject:
                            owner.RecordFailure(id, attempt, result.Status, result.Error!, "rejected");
                            Interlocked.Increment(ref owner._failed);
                            await SettleAsync(delivery, reject: result.Error).ConfigureAwait(false);
                            return;
                    }
                    var wait = _schedule.Next(attempt, time.GetUtcNow() - first, result.RetryAfter, Random.Shared.NextDouble());
                    if (wait is not { } delay)
                    {
                        var reason = $"Gave up after {attempt} attempt(s): {result.Error}";
                        owner.RecordFailure(id, attempt, result.Status, reason, "rejected");
                        Interlocked.Increment(ref owner._failed);
                        await SettleAsync(delivery, reject: reason).ConfigureAwait(false);
                        return;
                    }
                    owner.RecordFailure(id, attempt, result.Status, result.Error!, "retry");
                    Interlocked.Increment(ref owner._retried);
                    await Task.Delay(delay, time, token).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                // Stopping: the message returns to the queue when the consumer is cancelled.
            }
            catch (Exception e)
            {
                // A bug, not an endpoint failure: the message stays unsettled and returns to the queue when the webhook stops.
                LogDeliveryFailed(owner._runtime.Logger, e, owner.Key.ToString());
            }
            finally
            {
                owner._inFlight.TryRemove(delivery.Tag.Id, out _);
            }
        }

        private async Task<AttemptResult> AttemptAsync(Delivery delivery, string id, ReadOnlyMemory<byte> body, int attempt, CancellationToken token)
        {
            var time = owner._runtime.Time;
            var keys = new List<byte[]>(2);
            if (WebhookSignature.DecodeSecret(definition.Secret) is { } current) keys.Add(current);
            if (definition.PreviousSecretExpiresAt > time.GetUtcNow() && WebhookSignature.DecodeSecret(definition.PreviousSecret) is { } previous)
                keys.Add(previous);
            using var request = WebhookRequests.Build(_url, definition.Format, owner.Key, delivery, id, body, attempt,
                time.GetUtcNow().ToUnixTimeSeconds(), keys);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(token);
            timeout.CancelAfter(TimeSpan.FromMilliseconds(definition.TimeoutMilliseconds));
            try
            {
                using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
                var status = (int)response.StatusCode;
                if (status is >= 200 and < 300) return new(Verdict.Delivered, status, null);
                var error = $"HTTP {status}{await ReadSnippetAsync(response, timeout.Token).ConfigureAwait(false)}";
                if (status == (int)HttpStatusCode.Gone) return new(Verdict.Gone, status, error);
                if (status is 408 or 425 or 429 or >= 500 or < 200 or (>= 300 and < 400))
                    return new(Verdict.Retry, status, error, RetryAfter(response, time.GetUtcNow()));
                return new(Verdict.Reject, status, error);
            }
            catch (OperationCanceledException) when (!token.IsCancellationRequested)
            {
                return new(Verdict.Retry, null, $"No answer within {definition.TimeoutMilliseconds} ms.");
            }
            catch (HttpRequestException e)
            {
                return new(Verdict.Retry, null, Describe(e));
            }
        }

        // Up to MaxResponseBodyBytes of an error answer, as printable text for the failure log; the rest is discarded.
        private async Task<string> ReadSnippetAsync(HttpResponseMessage response, CancellationToken token)
        {
            var limit = owner._runtime.Options.MaxResponseBodyBytes;
            if (limit <= 0) return "";
            try
            {
                await using var stream = await response.Content.ReadAsStreamAsync(token).ConfigureAwait(false);
                var buffer = new byte[limit];
                var read = 0;
                while (read < limit)
                {
                    var n = await stream.ReadAsync(buffer.AsMemory(read), token).ConfigureAwait(false);
                    if (n == 0) break;
                    read += n;
                }
                if (read == 0) return "";
                var text = new string(System.Text.Encoding.UTF8.GetString(buffer, 0, read).Select(c => char.IsControl(c) ? ' ' : c).ToArray()).Trim();
                return text.Length == 0 ? "" : ": " + text;
            }
            catch (Exception e) when (e is IOException or HttpRequestException)
            {
                return "";
            }
        }

        private static TimeSpan? RetryAfter(HttpResponseMessage response, DateTimeOffset now) => response.Headers.RetryAfter switch
        {
            { Delta: { } delta } => delta,
            { Date: { } date } => date > now ? date - now : TimeSpan.Zero,
            _ => null,
        };

        private static string Describe(HttpRequestException e)
        {
            for (Exception? inner = e; inner is not null; inner = inner.InnerException)
                if (inner is AddressRefusedException refused) return "Refused: " + refused.Message;
            var detail = e.InnerException is { } inner2 && inner2.Message != e.Message ? $" ({inner2.Message})" : "";
            return $"{e.Message}{detail}";
        }

        // Acks (reject null) or rejects without requeue. A failure here leaves the message unacknowledged: it returns
        // to the queue when the webhook stops, or after a restart (the journal still holds it).
        private async Task SettleAsync(Delivery delivery, string? reject)
        {
            try
            {
                if (reject is null) await owner.Queue.AckAsync([delivery.Tag]).ConfigureAwait(false);
                // Dead-lettered (reason "rejected") when the queue has a dead-letter exchange, the copy saying why.
                else await owner.Queue.RejectAsync(delivery.Tag, new Dictionary<string, string>
                {
                    [ErrorHeader] = reject.Length <= MaxErrorHeaderLength ? reject : reject[..MaxErrorHeaderLength],
                    [NameHeader] = owner.Key.Name,
                }).ConfigureAwait(false);
            }
            catch (BrokerException)
            {
                // The queue was deleted meanwhile: nothing left to settle.
            }
            catch (StorageException e)
            {
                LogSettleFailed(owner._runtime.Logger, e, owner.Key.ToString());
            }
        }
    }

    [LoggerMessage(EventId = 4210, Level = LogLevel.Error, Message = "Webhook {Webhook}: a delivery failed unexpectedly; its message returns to the queue")]
    private static partial void LogDeliveryFailed(ILogger logger, Exception exception, string webhook);

    [LoggerMessage(EventId = 4211, Level = LogLevel.Warning, Message = "Webhook {Webhook}: an acknowledgement could not be stored; the message will be delivered again")]
    private static partial void LogSettleFailed(ILogger logger, Exception exception, string webhook);
}
