using Gateway.Broker.Durability;
using Gateway.Storage.Topology;
using Microsoft.Extensions.Primitives;

namespace Gateway.Storage;

/// <summary>
/// Where the server keeps its own records beside the broker's: users, API keys, permissions and webhook
/// subscriptions, through the EF Core model of <see cref="GatewayDbContext"/>. Two implementations, chosen by
/// <c>Gateway:Storage:Provider</c>: <see cref="SqliteStore"/> (the embedded file, one node) and
/// <see cref="PostgreSql.PostgresStateStore"/> (one database shared by many gateway nodes).
/// </summary>
public interface IStateStore
{
    /// <summary>
    /// True when other gateway nodes read and write the same records: a change may come from elsewhere
    /// (<see cref="WatchSecurity"/>), and a record this node cannot use (a webhook of a queue it does not have) may
    /// still be another node's.
    /// </summary>
    bool IsShared { get; }

    /// <summary>
    /// Runs <paramref name="change"/> on a fresh context and saves it in one transaction. Throws
    /// <see cref="StorageException"/> when it cannot be stored.
    /// </summary>
    void Write(Action<GatewayDbContext> change);

    /// <summary>Reads with a fresh, non-tracking context.</summary>
    T Read<T>(Func<GatewayDbContext, T> query);

    /// <summary>
    /// A change token that fires after users, API keys or permissions changed in the store, whoever changed them (also
    /// after a lost connection to a shared store came back, since changes may have been missed meanwhile): the reader
    /// loads them again. Never fires for a store only this process writes.
    /// </summary>
    IChangeToken WatchSecurity();

    /// <summary>Stores a webhook subscription, replacing the one of the same vhost, queue and name. Throws <see cref="StorageException"/> on failure.</summary>
    void SaveWebhook(StoredWebhook webhook);

    /// <summary>Deletes a webhook subscription; nothing happens when it is not stored. Throws <see cref="StorageException"/> on failure.</summary>
    void DeleteWebhook(string vhost, string queue, string name);

    /// <summary>Every stored webhook subscription, for the host to start at start-up.</summary>
    IReadOnlyList<StoredWebhook> LoadWebhooks();

    /// <summary>Null while the store is reachable and up to date; else why not (for /readyz).</summary>
    string? StateProblem { get; }

    /// <summary>
    /// Claims the right to run what only one gateway node may run at a time (a webhook of a queue every node sees),
    /// named by <paramref name="name"/>: true when this node holds the claim (now or already), false when another node
    /// does. A store only this process uses grants every claim. A claim lasts until <see cref="Release"/>, or until the
    /// store loses the connection that holds it (then another node may claim it, and <see cref="ClaimsHeld"/> turns
    /// false: the holder must stop what it ran). Throws <see cref="StorageException"/> when the store cannot be reached.
    /// </summary>
    bool TryClaim(string name);

    /// <summary>Gives a claim up (nothing happens when this node does not hold it).</summary>
    void Release(string name);

    /// <summary>
    /// False when the claims this node held may have been lost since the last call (the connection holding them
    /// dropped): they are forgotten, and what ran under them must stop and be claimed again. Checks the connection.
    /// </summary>
    bool ClaimsHeld();
}
