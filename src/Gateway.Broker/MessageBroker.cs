using System.Collections.Concurrent;
using System.Diagnostics;
using Gateway.Broker.Durability;
using Gateway.Broker.Queues;
using Gateway.Broker.Statistics;
using Gateway.Broker.Topology;

namespace Gateway.Broker;

/// <summary>Engine settings.</summary>
public sealed record BrokerOptions
{
    /// <summary>The defaults.</summary>
    public static readonly BrokerOptions Default = new();

    /// <summary>
    /// How often expired leases are looked for; a lease ends at most this much after its deadline. The default is
    /// 100 milliseconds. Null turns the timer off (tests call <see cref="MessageBroker.ExpireLeases"/>).
    /// </summary>
    public TimeSpan? LeaseScanInterval { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// Whether a timer wakes queues when a message's TTL or delay ends or an unused queue expires. The default is
    /// true; false leaves it to <see cref="MessageBroker.RunDueTimers"/> (tests with a manual clock).
    /// </summary>
    public bool AutomaticTimers { get; init; } = true;

    /// <summary>
    /// How often message counters are sampled into rates. The default is one second. Null turns the timer off (tests
    /// call <see cref="MessageBroker.SampleStatistics"/>).
    /// </summary>
    public TimeSpan? StatisticsInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>The sliding window rates are averaged over. The default is 10 seconds.</summary>
    public TimeSpan RateWindow { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The clock. The default is the system clock.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;
}

/// <summary>
/// The embedded broker: a set of vhosts, each with its exchanges, queues and bindings. The vhost named
/// <see cref="DefaultVhost"/> exists from the start.
/// </summary>
public sealed partial class MessageBroker : IDisposable
{
    /// <summary>The vhost every broker starts with.</summary>
    public const string DefaultVhost = "default";

    private readonly ConcurrentDictionary<string, VirtualHost> _vhosts = new(StringComparer.Ordinal);
    private readonly LeaseTable _leases;
    private readonly QueueTimers _timers;
    private readonly IBrokerStore? _store;
    private readonly TimeProvider _time;
    private readonly ITimer? _statisticsTimer;
    private readonly Lock _samplingLock = new();
    private readonly long _rateWindow;
    private readonly int _sampleCapacity;

    /// <summary>
    /// Creates a broker with the <see cref="DefaultVhost"/>. With a <paramref name="store"/>, durable topology and
    /// persistent messages are kept there; call <see cref="Recover"/> before serving to load what it holds.
    /// </summary>
    public MessageBroker(BrokerOptions? options = null, IBrokerStore? store = null)
    {
        options ??= BrokerOptions.Default;
        _leases = new LeaseTable(options.TimeProvider, options.LeaseScanInterval);
        _timers = new QueueTimers(options.TimeProvider, options.AutomaticTimers);
        _store = store;
        _time = options.TimeProvider;
        _rateWindow = (long)(options.RateWindow.TotalSeconds * _time.TimestampFrequency);
        // Enough samples to span the window at the configured pace (plus both ends); a fixed number when tests sample.
        _sampleCapacity = options.StatisticsInterval is { } interval && interval > TimeSpan.Zero
            ? (int)Math.Clamp(Math.Ceiling(options.RateWindow / interval) + 2, 2, 4096)
            : 64;
        CreateVhost(DefaultVhost);
        if (options.StatisticsInterval is { } every)
            _statisticsTimer = _time.CreateTimer(_ => Sample(skipIfBusy: true), null, every, every);
    }

    /// <summary>
    /// Loads the store's durable topology (vhosts, exchanges, queues, bindings), then every persistent message of
    /// every durable queue at its stored position; deliveries unacknowledged at the last stop come back redelivered
    /// with their delivery count. Reports progress to <paramref name="progress"/> about every <paramref name="every"/> messages.
    /// Call it once, before the broker serves anyone: queues are filled without their locks.
    /// </summary>
    public RecoveryProgress Recover(Action<RecoveryProgress>? progress = null, int every = 100_000)
    {
        var clock = Stopwatch.StartNew();
        if (_store is null) return new RecoveryProgress(0, 0, 0, clock.Elapsed);
        // No queue wakes up (TTL, delay, x-expires) while queues are filled without their locks; each queue runs what is
        // due once it is complete (CompleteRestore), and the timers resume after the last.
        _timers.Pause();
        try
        {
            return RecoverPaused(progress, every, clock);
        }
        finally
        {
            _timers.Resume();
        }
    }

    private RecoveryProgress RecoverPaused(Action<RecoveryProgress>? progress, int every, Stopwatch clock)
    {
        var topology = _store!.LoadTopology();
        foreach (var name in topology.Vhosts) GetOrCreateVhostForRecovery(name);
        foreach (var name in topology.Exchanges.Select(x => x.Vhost).Concat(topology.Queues.Select(q => q.Vhost)).Distinct())
            GetOrCreateVhostForRecovery(name);
        var queuesById = new Dictionary<long, Queues.MessageQueue>();
        foreach (var vhost in _vhosts.Values) vhost.Restore(topology, queuesById);

        long messages = 0;
        var queuesDone = 0;
        var orphans = new HashSet<long>();
        long currentQueue = 0;
        Queues.MessageQueue? queue = null;
        foreach (var entry in _store.ReadMessages())
        {
            if (entry.QueueId != currentQueue)
            {
                if (currentQueue != 0) queuesDone++;
                currentQueue = entry.QueueId;
                queue = queuesById.GetValueOrDefault(entry.QueueId);
                if (queue is null) orphans.Add(entry.QueueId);
            }
            if (queue is null) continue;
            queue.Restore(entry);
            if (++messages % every == 0) progress?.Invoke(new RecoveryProgress(messages, queuesDone, queuesById.Count, clock.Elapsed));
        }
        foreach (var restored in queuesById.Values) restored.CompleteRestore();
        if (orphans.Count > 0) _store.RemoveOrphans(orphans);
        var done = new RecoveryProgress(messages, queuesById.Count, queuesById.Count, clock.Elapsed);
        progress?.Invoke(done);
        return done;
    }

    private void GetOrCreateVhostForRecovery(string name) =>
        _vhosts.GetOrAdd(name, n => new VirtualHost(n, _leases, _timers, _store));

    /// <summary>The vhost, or null.</summary>
    public VirtualHost? GetVhost(string name) => _vhosts.GetValueOrDefault(name);

    /// <summary>All vhosts ordered by name.</summary>
    public IReadOnlyList<VirtualHost> ListVhosts() => _vhosts.Values.OrderBy(v => v.Name, StringComparer.Ordinal).ToList();

    /// <summary>Creates a vhost; true when it did not exist.</summary>
    public bool CreateVhost(string name)
    {
        if (_vhosts.ContainsKey(name)) return false;
        lock (_vhosts)
        {
            if (_vhosts.ContainsKey(name)) return false;
            _store?.Apply([new TopologyChange.VhostCreated(name)]);
            _vhosts[name] = new VirtualHost(name, _leases, _timers, _store);
            return true;
        }
    }

    /// <summary>
    /// Declares a whole topology in one transaction. Each item is declared as its own call would (the same checks and
    /// refusals); refused items are reported with the broker's reason and skipped (a binding whose queue was refused is
    /// refused in turn, its queue not existing). Everything the import creates is stored in one store transaction and
    /// becomes visible at once when that commits: a storage failure throws <see cref="StorageException"/> and leaves
    /// the broker as it was. With <paramref name="allOrNothing"/>, one refused item refuses the whole import, and
    /// nothing changes (<see cref="TopologyImportReport.Applied"/> is false). Importing the same topology again reports
    /// every item as existing. With <paramref name="dryRun"/>, the outcomes are computed and nothing changes.
    /// </summary>
    public TopologyImportReport Import(TopologyImport import, bool allOrNothing = false, bool dryRun = false)
    {
        lock (_vhosts)
        {
            var created = new Dictionary<string, VirtualHost>(StringComparer.Ordinal);
            var vhostResults = new List<ImportItemResult>();
            foreach (var name in import.Vhosts)
            {
                if (_vhosts.ContainsKey(name) || created.ContainsKey(name)) vhostResults.Add(new(ImportOutcome.Existed));
                else if (Names.Validate(name) is { } error) vhostResults.Add(new(ImportOutcome.Refused, $"Vhost name {error}."));
                else
                {
                    created[name] = new VirtualHost(name, _leases, _timers, _store);
                    vhostResults.Add(new(ImportOutcome.Created));
                }
            }
            VirtualHost? Find(string name) => _vhosts.GetValueOrDefault(name) ?? created.GetValueOrDefault(name);

            var involved = import.Exchanges.Select(x => x.Vhost).Concat(import.Queues.Select(q => q.Vhost)).Concat(import.Bindings.Select(b => b.Vhost))
                .Distinct().Order(StringComparer.Ordinal).Select(Find).OfType<VirtualHost>().ToList();
            var scopes = new List<VirtualHost.ImportScope>();
            try
            {
                foreach (var vhost in involved) scopes.Add(vhost.BeginImport());
                var exchanges = import.Exchanges.Select(x => Declare(x.Vhost, v => v.DeclareExchange(x.Definition))).ToList();
                var queues = import.Queues.Select(q => Declare(q.Vhost, v => v.DeclareQueue(q.Definition).Outcome)).ToList();
                var bindings = import.Bindings.Select(b => Declare(b.Vhost, v => v.Bind(b.Binding).Outcome)).ToList();
                var report = new TopologyImportReport(true, vhostResults, exchanges, queues, bindings);
                if (dryRun || (allOrNothing && report.AnyRefused)) return report with { Applied = false }; // scopes roll back below

                var changes = new List<TopologyChange>();
                changes.AddRange(created.Keys.Select(name => new TopologyChange.VhostCreated(name)));
                foreach (var scope in scopes) changes.AddRange(scope.Staged);
                if (_store is not null && changes.Count > 0) _store.Apply(changes); // throws: everything rolls back
                foreach (var scope in scopes) scope.Commit();
                foreach (var (name, vhost) in created) _vhosts[name] = vhost;
                return report;
            }
            finally
            {
                foreach (var scope in scopes) scope.Dispose(); // rolls back unless committed; releases the locks
            }

            ImportItemResult Declare(string vhostName, Func<VirtualHost, DeclareOutcome> declare)
            {
                if (Find(vhostName) is not { } vhost) return new(ImportOutcome.Refused, $"No vhost '{vhostName}'.");
                try
                {
                    return ImportItemResult.From(declare(vhost));
                }
                catch (BrokerException e)
                {
                    return new(ImportOutcome.Refused, e.Message);
                }
            }
        }
    }

    /// <summary>Deletes a vhost with everything in it. The default vhost cannot be deleted.</summary>
    public void DeleteVhost(string name)
    {
        if (name == DefaultVhost) throw BrokerException.AccessRefused($"The '{DefaultVhost}' vhost cannot be deleted.");
        lock (_vhosts)
        {
            if (!_vhosts.ContainsKey(name)) throw BrokerException.NotFound($"No vhost '{name}'.");
            _store?.Apply([new TopologyChange.VhostDeleted(name)]);
            _vhosts.TryRemove(name, out var vhost);
            vhost!.MarkDeleted();
        }
    }

    /// <summary>
    /// Samples every queue's and exchange's counters now and recomputes their rates over the window. The statistics
    /// timer calls it every <see cref="BrokerOptions.StatisticsInterval"/>; it reads counters only, so publishing and
    /// consuming never wait for it.
    /// </summary>
    public void SampleStatistics() => Sample(skipIfBusy: false);

    private void Sample(bool skipIfBusy)
    {
        // A timer tick that finds the previous pass still running skips rather than queueing up behind it.
        if (skipIfBusy) { if (!_samplingLock.TryEnter()) return; }
        else _samplingLock.Enter();
        try
        {
            var now = _time.GetTimestamp();
            foreach (var vhost in _vhosts.Values) vhost.SampleStatistics(now, _rateWindow, _time.TimestampFrequency, _sampleCapacity);
        }
        finally
        {
            _samplingLock.Exit();
        }
    }

    /// <summary>Counts of everything and message rates summed over all vhosts, as of now (rates as of the last sample).</summary>
    public BrokerOverview GetOverview()
    {
        int vhosts = 0, exchanges = 0, queues = 0, bindings = 0, consumers = 0;
        long ready = 0, unacked = 0, delayed = 0;
        var rates = MessageRates.Zero;
        double published = 0;
        foreach (var vhost in _vhosts.Values)
        {
            vhosts++;
            bindings += vhost.BindingCount;
            foreach (var (_, statistics) in vhost.ExchangeStatisticsSnapshot())
            {
                exchanges++;
                published += statistics.Rates.PublishIn;
            }
            foreach (var queue in vhost.ListQueues())
            {
                queues++;
                consumers += queue.ConsumerCount;
                ready += queue.MessagesReady;
                unacked += queue.MessagesUnacknowledged;
                delayed += queue.MessagesDelayed;
                rates += queue.Statistics.Rates;
            }
        }
        // Publish counts messages published (at their exchange), not their copies in queues.
        return new BrokerOverview(vhosts, exchanges, queues, bindings, consumers, ready, unacked, delayed, rates with { Publish = published });
    }

    /// <summary>Returns every delivery whose lease has ended to its queue now; returns how many.</summary>
    public int ExpireLeases() => _leases.ExpireDue();

    /// <summary>Runs the queue wake-ups that are due now (TTL, delays, x-expires); returns how many queues woke.</summary>
    public int RunDueTimers() => _timers.RunDue();

    /// <inheritdoc />
    public void Dispose()
    {
        _statisticsTimer?.Dispose();
        _leases.Dispose();
        _timers.Dispose();
    }
}
