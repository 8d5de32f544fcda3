using Gateway.Broker;
using Gateway.Broker.Durability;

namespace Gateway.Storage.Tests;

/// <summary>A temporary data folder with a real SQLite file; reopen it to simulate a restart.</summary>
public sealed class TempStore : IAsyncDisposable
{
    private SqliteStore? _store;

    public TempStore(SynchronousMode mode = SynchronousMode.Normal)
    {
        Options = new StorageOptions { DataPath = Path.Combine(Path.GetTempPath(), "gateway-storage-tests", Guid.NewGuid().ToString("N")), Synchronous = mode };
    }

    public StorageOptions Options { get; }

    public SqliteStore Store => _store ??= SqliteStore.Open(Options);

    /// <summary>A broker over the store, recovered.</summary>
    public MessageBroker Broker(out RecoveryProgress recovered)
    {
        var broker = new MessageBroker(new BrokerOptions { LeaseScanInterval = null }, Store);
        recovered = broker.Recover();
        return broker;
    }

    public MessageBroker Broker() => Broker(out _);

    /// <summary>Closes the store (as a clean stop) so the next <see cref="Store"/> reopens the file.</summary>
    public async Task RestartAsync()
    {
        if (_store is not null) await _store.DisposeAsync();
        _store = null;
    }

    public async ValueTask DisposeAsync()
    {
        await RestartAsync();
        try { Directory.Delete(Options.DataPath, recursive: true); } catch (IOException) { }
    }
}
