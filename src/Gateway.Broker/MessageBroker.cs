using System.Collections.Concurrent;
using Gateway.Broker.Queues;
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

    /// <summary>The clock. The default is the system clock.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;
}

/// <summary>
/// The embedded broker: a set of vhosts, each with its exchanges, queues and bindings. The vhost named
/// <see cref="DefaultVhost"/> exists from the start.
/// </summary>
public sealed class MessageBroker : IDisposable
{
    /// <summary>The vhost every broker starts with.</summary>
    public const string DefaultVhost = "default";

    private readonly ConcurrentDictionary<string, VirtualHost> _vhosts = new(StringComparer.Ordinal);
    private readonly LeaseTable _leases;

    /// <summary>Creates a broker with the <see cref="DefaultVhost"/>.</summary>
    public MessageBroker(BrokerOptions? options = null)
    {
        options ??= BrokerOptions.Default;
        _leases = new LeaseTable(options.TimeProvider, options.LeaseScanInterval);
        CreateVhost(DefaultVhost);
    }

    /// <summary>The vhost, or null.</summary>
    public VirtualHost? GetVhost(string name) => _vhosts.GetValueOrDefault(name);

    /// <summary>All vhosts ordered by name.</summary>
    public IReadOnlyList<VirtualHost> ListVhosts() => _vhosts.Values.OrderBy(v => v.Name, StringComparer.Ordinal).ToList();

    /// <summary>Creates a vhost; true when it did not exist.</summary>
    public bool CreateVhost(string name)
    {
        var created = false;
        _vhosts.GetOrAdd(name, n => { created = true; return new VirtualHost(n, _leases); });
        return created;
    }

    /// <summary>Deletes a vhost with everything in it. The default vhost cannot be deleted.</summary>
    public void DeleteVhost(string name)
    {
        if (name == DefaultVhost) throw BrokerException.AccessRefused($"The '{DefaultVhost}' vhost cannot be deleted.");
        if (!_vhosts.TryRemove(name, out var vhost)) throw BrokerException.NotFound($"No vhost '{name}'.");
        vhost.MarkDeleted();
    }

    /// <summary>Returns every delivery whose lease has ended to its queue now; returns how many.</summary>
    public int ExpireLeases() => _leases.ExpireDue();

    /// <inheritdoc />
    public void Dispose() => _leases.Dispose();
}
