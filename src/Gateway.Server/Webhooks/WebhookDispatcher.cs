using System.Collections.Concurrent;
using Gateway.Broker;
using Gateway.Broker.Durability;
using Gateway.Broker.Queues;
using Gateway.Server.Contracts;
using Gateway.Server.Http;
using Gateway.Storage;
using Microsoft.Extensions.Options;

namespace Gateway.Server.Webhooks;

/// <summary>
/// Owns every webhook: creates, changes, pauses, disables and deletes them, keeps those of durable queues in the store
/// (deleted with their queue or vhost by the store itself), and starts the stored ones once recovery has finished.
/// Changes are serialized by one gate; deliveries never take it.
/// </summary>
/// <remarks>
/// <para>With a shared store (PostgreSQL, many gateway nodes) every node knows every stored webhook: it reads the store
/// again every <see cref="SyncInterval"/>, and takes in what other nodes created, changed, disabled or deleted.</para>
/// <para>When the queues are shared too (<see cref="BrokerFeature.SharedByNodes"/>: a RabbitMQ cluster), each webhook
/// runs on one node at a time: the node that holds its claim in the store (<see cref="IStateStore.TryClaim"/>, a
/// PostgreSQL advisory lock). The others keep it idle and try to claim it on each pass, so when the node running it
/// dies (its session ends and the lock with it) another takes over within about a second; what the dead node had in
/// flight comes back from the queue, redelivered. Concurrency 1 keeps its order across the takeover: one consumer at a
/// time. A change made through any node reaches the runner on its next pass. The counters of a webhook's status are
/// those of the node answering (the runner's are the real ones).</para>
/// </remarks>
internal sealed partial class WebhookDispatcher : IHostedService
{
    private readonly IBroker _broker;
    private readonly IStateStore? _store;
    private readonly ReadinessState _readiness;
    private readonly ILogger<WebhookDispatcher> _logger;
    private readonly TimeProvider _time;
    private readonly WebhookRuntime _runtime;
    private readonly ConcurrentDictionary<WebhookKey, WebhookSubscription> _webhooks = new();
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly CancellationTokenSource _stopping = new();
    private Task _loading = Task.CompletedTask;
    private bool _stopped;
    // True when each webhook may run on one node only: the store and the queues are shared by every node.
    private readonly bool _exclusive;

    /// <summary>How often a node sharing its store reads the webhooks again and tries to claim the idle ones.</summary>
    public static readonly TimeSpan SyncInterval = TimeSpan.FromSeconds(1);

    public WebhookDispatcher(IBroker broker, ReadinessState readiness, IOptions<WebhookOptions> options, AddressPolicy policy,
        TimeProvider time, ILogger<WebhookDispatcher> logger, IStateStore? store = null)
    {
        _broker = broker;
        _store = store;
        _readiness = readiness;
        _logger = logger;
        _time = time;
        _exclusive = store?.IsShared == true && broker.Features.Has(BrokerFeature.SharedByNodes);
        _runtime = new WebhookRuntime(policy, options.Value, time, logger,
            (webhook, reason) => _ = Task.Run(() => DisableAsync(webhook, reason)),
            webhook => _ = Task.Run(() => EndedAsync(webhook)));
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (Durability.IsDocumentGeneration) return Task.CompletedTask;
        _loading = Task.Run(LoadWhenReadyAsync, CancellationToken.None);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync();
        await _loading;
        await _gate.WaitAsync(CancellationToken.None);
        try
        {
            _stopped = true;
            await Task.WhenAll(_webhooks.Values.Select(w => w.StopAsync()));
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task LoadWhenReadyAsync()
    {
        try
        {
            await _readiness.Ready.WaitAsync(_stopping.Token);
        }
        catch (OperationCanceledException)
        {
            return;
        }
        if (_store is null) return;
        await _gate.WaitAsync(CancellationToken.None);
        try
        {
            if (_stopped) return;
            var started = 0;
            foreach (var stored in _store.LoadWebhooks())
            {
                var key = new WebhookKey(stored.Vhost, stored.Queue, stored.Name);
                if (_webhooks.ContainsKey(key)) continue; // created through the API meanwhile: that one is newer
                var queue = await _broker.GetVhostAsync(stored.Vhost) is { } vhost ? await vhost.GetQueueAsync(stored.Queue) : null;
                WebhookDefinition? definition = null;
                try
                {
                    definition = WebhookDefinition.Deserialize(stored.Definition);
                }
                catch (System.Text.Json.JsonException e)
                {
                    LogUnreadable(e, key.ToString());
                }
                if (queue is null && _store.IsShared)
                {
                    // A shared store holds every node's webhooks: a queue this node does not have may be another's.
                    LogNotHere(key.ToString());
                    continue;
                }
                if (queue is null || definition is null)
                {
                    // Its queue is gone (a crash between the queue's deletion and ours), or it cannot be read: dropped.
                    if (queue is null) LogOrphan(key.ToString());
                    _store.DeleteWebhook(stored.Vhost, stored.Queue, stored.Name);
                    continue;
                }
                var webhook = new WebhookSubscription(key, queue, definition, stored.DisabledReason, stored.DisabledAt, _runtime);
                _webhooks[key] = webhook;
                if (await StartOrClaimAsync(webhook)) started++;
            }
            LogLoaded(started);
        }
        catch (Exception e)
        {
            LogLoadFailed(e);
        }
        finally
        {
            _gate.Release();
        }
        if (_store.IsShared) await SyncLoopAsync();
    }

    private static string ClaimName(WebhookKey key) => $"webhook:{key.Vhost}/{key.Queue}/{key.Name}";

    // Under the gate. Starts the webhook when it is active, on this node only when it holds its claim (an exclusive
    // store); true when it runs here.
    private async Task<bool> StartOrClaimAsync(WebhookSubscription webhook)
    {
        if (webhook.State != WebhookState.Active) return false;
        if (_exclusive && !_store!.TryClaim(ClaimName(webhook.Key))) return false;
        await webhook.StartAsync();
        return webhook.IsRunning;
    }

    // Under the gate. Stops it here and gives its claim up, so that another node may run it (or none, when it was paused).
    private async Task StopAndReleaseAsync(WebhookSubscription webhook)
    {
        await webhook.StopAsync();
        if (!_exclusive) return;
        try
        {
            _store!.Release(ClaimName(webhook.Key));
        }
        catch (StorageException e)
        {
            LogStoreFailed(e, webhook.Key.ToString()); // the claim went with the connection
        }
    }

    private async Task SyncLoopAsync()
    {
        while (true)
        {
            try
            {
                await Task.Delay(SyncInterval, _time, _stopping.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            await _gate.WaitAsync(CancellationToken.None);
            try
            {
                if (_stopped) return;
                await SyncAsync();
            }
            catch (Exception e) when (e is StorageException or BrokerException or BrokerUnavailableException)
            {
                LogSyncFailed(e); // the next pass tries again
            }
            finally
            {
                _gate.Release();
            }
        }
    }

    // Under the gate: takes in what other nodes changed in the shared store, and runs what this node may run.
    private async Task SyncAsync()
    {
        if (_exclusive && !_store!.ClaimsHeld())
        {
            // The connection holding the claims dropped: another node may run them now.
            foreach (var running in _webhooks.Values.Where(w => w.IsRunning)) await running.StopAsync();
            LogClaimsLost();
        }
        var stored = _store!.LoadWebhooks().ToDictionary(w => new WebhookKey(w.Vhost, w.Queue, w.Name));
        foreach (var (key, webhook) in _webhooks)
        {
            if (!webhook.Queue.Definition.Durable || stored.ContainsKey(key)) continue;
            _webhooks.TryRemove(key, out _); // deleted through another node
            await StopAndReleaseAsync(webhook);
        }
        foreach (var (key, row) in stored)
        {
            if (WebhookDefinition.Deserialize(row.Definition) is not { } definition) continue;
            if (!_webhooks.TryGetValue(key, out var webhook))
            {
                var queue = await _broker.GetVhostAsync(key.Vhost) is { } vhost ? await vhost.GetQueueAsync(key.Queue) : null;
                if (queue is null) continue; // not a queue of this node (embedded), or being deleted
                webhook = new WebhookSubscription(key, queue, definition, row.DisabledReason, row.DisabledAt, _runtime);
                _webhooks[key] = webhook;
            }
            else if (webhook.Definition.Serialize() != row.Definition || webhook.DisabledReason != row.DisabledReason)
            {
                // Changed, re-enabled or disabled through another node: it starts again below with what is stored.
                await webhook.StopAsync();
                webhook.Definition = definition;
                webhook.DisabledReason = row.DisabledReason;
                webhook.DisabledAt = row.DisabledAt;
            }
            if (webhook.State != WebhookState.Active)
            {
                if (webhook.IsRunning) await StopAndReleaseAsync(webhook);
            }
            else if (!webhook.IsRunning)
            {
                await StartOrClaimAsync(webhook);
            }
        }
    }

    /// <summary>Every webhook of every queue.</summary>
    public IReadOnlyList<WebhookSubscription> ListAll() => [.. _webhooks.Values];

    /// <summary>The queue's webhooks, by name.</summary>
    public IReadOnlyList<WebhookSubscription> List(IBrokerQueue queue) =>
        _webhooks.Values.Where(w => SameQueue(w.Queue, queue)).OrderBy(w => w.Key.Name, StringComparer.Ordinal).ToList();

    // Handles of one queue may be different objects (a backend may answer a new one per lookup); a queue deleted and
    // declared again under its name is another queue (another incarnation).
    private static bool SameQueue(IBrokerQueue a, IBrokerQueue b) =>
        ReferenceEquals(a, b) || (a.Incarnation == b.Incarnation && a.Name == b.Name && a.Vhost == b.Vhost);

    /// <summary>The webhook, or null.</summary>
    public WebhookSubscription? Get(IBrokerQueue queue, string name) =>
        _webhooks.TryGetValue(new WebhookKey(queue.Vhost, queue.Name, name), out var w) && SameQueue(w.Queue, queue) ? w : null;

    /// <summary>
    /// Creates or replaces a webhook. An unchanged definition changes nothing; a changed one restarts it (deliveries in
    /// flight return to the queue). A webhook disabled by a 410 stays disabled until <see cref="EnableAsync"/>.
    /// Stored first (durable queues): a storage failure changes nothing.
    /// </summary>
    public async Task<(WebhookSubscription Webhook, bool Created)> PutAsync(IBrokerQueue queue, string name, WebhookRequest request)
    {
        var key = new WebhookKey(queue.Vhost, queue.Name, name);
        await _gate.WaitAsync();
        try
        {
            ThrowIfStopped();
            var existing = _webhooks.GetValueOrDefault(key);
            if (existing is not null && !SameQueue(existing.Queue, queue)) existing = null; // of a deleted queue of the same name
            var definition = WebhookDefinition.From(request, existing?.Definition, _time.GetUtcNow());
            if (existing is not null && existing.Definition == definition) return (existing, false);
            var webhook = existing ?? new WebhookSubscription(key, queue, definition, null, null, _runtime);
            if (queue.Definition.Durable) _store?.SaveWebhook(webhook.ToStored() with { Definition = definition.Serialize() });
            if (existing is not null) await existing.StopAsync();
            webhook.Definition = definition;
            _webhooks[key] = webhook;
            await StartOrClaimAsync(webhook); // with another node holding its claim, that node restarts it on its next pass
            if (existing is null) LogCreated(key.ToString(), definition.Concurrency, definition.Format);
            return (webhook, existing is null);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Deletes a webhook; its deliveries in flight return to the queue. False when there is none.</summary>
    public async Task<bool> DeleteAsync(IBrokerQueue queue, string name)
    {
        await _gate.WaitAsync();
        try
        {
            if (Get(queue, name) is not { } webhook) return false;
            if (queue.Definition.Durable) _store?.DeleteWebhook(webhook.Key.Vhost, webhook.Key.Queue, webhook.Key.Name);
            _webhooks.TryRemove(webhook.Key, out _);
            await StopAndReleaseAsync(webhook);
            return true;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Clears a 410's disabling and a pause, and starts delivering. Null when there is no such webhook.</summary>
    public async Task<WebhookSubscription?> EnableAsync(IBrokerQueue queue, string name)
    {
        await _gate.WaitAsync();
        try
        {
            ThrowIfStopped();
            if (Get(queue, name) is not { } webhook) return null;
            var definition = webhook.Definition with { Enabled = true };
            if (queue.Definition.Durable) _store?.SaveWebhook(webhook.ToStored() with { Definition = definition.Serialize(), DisabledReason = null, DisabledAt = null });
            webhook.Definition = definition;
            webhook.DisabledReason = null;
            webhook.DisabledAt = null;
            await StartOrClaimAsync(webhook);
            return webhook;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>
    /// Moves up to <paramref name="max"/> messages from <paramref name="source"/> (typically the queue's dead-letter
    /// queue) to the end of <paramref name="target"/>, through the default exchange, each once its copy is confirmed.
    /// </summary>
    public static async Task<int> RedriveAsync(IBrokerVhost vhost, IBrokerQueue source, IBrokerQueue target, int max)
    {
        if (SameQueue(source, target)) throw new BrokerException(BrokerError.InvalidArgument, "A queue cannot be redriven into itself.");
        var deliveries = await source.GetAsync(max, TimeSpan.Zero, TimeSpan.FromMinutes(5));
        var moved = new List<DeliveryTag>(deliveries.Count);
        var back = new List<DeliveryTag>();
        try
        {
            foreach (var delivery in deliveries)
            {
                var message = delivery.Message;
                var copy = new Gateway.Broker.Messages.Message("", target.Name, message.Properties, message.Body);
                var outcome = await vhost.PublishAsync("", copy);
                (outcome.Routed ? moved : back).Add(delivery.Tag);
            }
        }
        finally
        {
            var rest = deliveries.Select(d => d.Tag).Except(moved).ToList();
            if (rest.Count > 0) await source.NackAsync(rest, requeue: true);
            if (moved.Count > 0) await source.AckAsync(moved);
        }
        return moved.Count;
    }

    private async Task DisableAsync(WebhookSubscription webhook, string reason)
    {
        await _gate.WaitAsync();
        try
        {
            if (_stopped || !_webhooks.TryGetValue(webhook.Key, out var current) || current != webhook) return;
            var at = _time.GetUtcNow();
            // Stored before it shows: a crash right after the status said "disabled" must not start it again.
            try
            {
                if (webhook.Queue.Definition.Durable) _store?.SaveWebhook(webhook.ToStored() with { DisabledReason = reason, DisabledAt = at });
            }
            catch (StorageException e)
            {
                LogStoreFailed(e, webhook.Key.ToString()); // disabled until the gateway restarts
            }
            webhook.DisabledReason = reason;
            webhook.DisabledAt = at;
            LogDisabled(webhook.Key.ToString(), reason);
            await StopAndReleaseAsync(webhook);
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task EndedAsync(WebhookSubscription webhook)
    {
        await _gate.WaitAsync();
        try
        {
            webhook.Detach();
            if (!_webhooks.TryGetValue(webhook.Key, out var current) || current != webhook) return;
            _webhooks.TryRemove(webhook.Key, out _);
            if (_exclusive) _store!.Release(ClaimName(webhook.Key));
            LogQueueDeleted(webhook.Key.ToString());
            // The store deleted it with the queue; this covers a webhook stored while the queue was being deleted.
            if (webhook.Queue.Definition.Durable) _store?.DeleteWebhook(webhook.Key.Vhost, webhook.Key.Queue, webhook.Key.Name);
        }
        catch (StorageException e)
        {
            LogStoreFailed(e, webhook.Key.ToString());
        }
        finally
        {
            _gate.Release();
        }
    }

    private void ThrowIfStopped()
    {
        if (_stopped) throw new BrokerException(BrokerError.PreconditionFailed, "The gateway is stopping.");
    }

    [LoggerMessage(EventId = 4213, Level = LogLevel.Warning, Message = "Could not read the shared store's webhooks; tried again in a second")]
    private partial void LogSyncFailed(Exception exception);

    [LoggerMessage(EventId = 4214, Level = LogLevel.Warning, Message = "The claims on the shared store's webhooks were lost with their connection; stopped them here, claiming again")]
    private partial void LogClaimsLost();

    [LoggerMessage(EventId = 4212, Level = LogLevel.Information, Message = "Stored webhook {Webhook} not started: its queue is not on this node")]
    private partial void LogNotHere(string webhook);

    [LoggerMessage(EventId = 4200, Level = LogLevel.Information, Message = "Started {Count} stored webhooks")]
    private partial void LogLoaded(int count);

    [LoggerMessage(EventId = 4201, Level = LogLevel.Information, Message = "Webhook {Webhook} created (concurrency {Concurrency}, format {Format})")]
    private partial void LogCreated(string webhook, int concurrency, WebhookFormat format);

    [LoggerMessage(EventId = 4202, Level = LogLevel.Warning, Message = "Webhook {Webhook} disabled: {Reason}")]
    private partial void LogDisabled(string webhook, string reason);

    [LoggerMessage(EventId = 4203, Level = LogLevel.Information, Message = "Webhook {Webhook} ended with its queue")]
    private partial void LogQueueDeleted(string webhook);

    [LoggerMessage(EventId = 4204, Level = LogLevel.Warning, Message = "Stored webhook {Webhook} has no queue any more; dropped")]
    private partial void LogOrphan(string webhook);

    [LoggerMessage(EventId = 4205, Level = LogLevel.Error, Message = "Stored webhook {Webhook} cannot be read; dropped")]
    private partial void LogUnreadable(Exception exception, string webhook);

    [LoggerMessage(EventId = 4206, Level = LogLevel.Error, Message = "The stored webhooks could not be started")]
    private partial void LogLoadFailed(Exception exception);

    [LoggerMessage(EventId = 4207, Level = LogLevel.Error, Message = "Webhook {Webhook}: its state could not be stored")]
    private partial void LogStoreFailed(Exception exception, string webhook);
}
