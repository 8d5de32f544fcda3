using Gateway.Storage.PostgreSql;
using Gateway.Testing;

namespace Gateway.Server.Tests;

/// <summary>
/// Claims in the PostgreSQL store (advisory locks on each node's own session), between two stores on one database as
/// two gateway nodes have them: one holder at a time, given up by Release, by the holder's end, or by the loss of the
/// holder's connection, which the holder then learns from ClaimsHeld.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresClaimTests(PostgresServer postgres) : IAsyncLifetime
{
    private PostgresStateStore _a = null!;
    private PostgresStateStore _b = null!;
    private string _database = "";

    public async Task InitializeAsync()
    {
        _database = await postgres.CreateDatabaseAsync("claims");
        _a = PostgresStateStore.Open(_database);
        _b = PostgresStateStore.Open(_database);
    }

    public async Task DisposeAsync()
    {
        await _a.DisposeAsync();
        await _b.DisposeAsync();
    }

    [Fact]
    public void A_claim_has_one_holder_until_it_is_released()
    {
        Assert.True(_a.TryClaim("webhook:default/q/hook"));
        Assert.True(_a.TryClaim("webhook:default/q/hook")); // held already: still this node's
        Assert.False(_b.TryClaim("webhook:default/q/hook"));
        Assert.True(_b.TryClaim("webhook:default/q/other")); // other names are other claims

        _a.Release("webhook:default/q/hook"); // one release gives it up, however often it was claimed

        Assert.True(_b.TryClaim("webhook:default/q/hook"));
        Assert.False(_a.TryClaim("webhook:default/q/hook"));
        Assert.True(_a.ClaimsHeld());
    }

    [Fact]
    public async Task A_claim_is_free_for_the_others_once_its_holder_is_gone()
    {
        Assert.True(_a.TryClaim("webhook:default/q/hook"));

        await _a.DisposeAsync();
        _a = PostgresStateStore.Open(_database);

        Assert.True(_b.TryClaim("webhook:default/q/hook"));
    }

    [Fact]
    public void When_the_holders_connection_is_lost_the_claim_goes_to_another_and_the_holder_learns_it()
    {
        Assert.True(_a.TryClaim("webhook:default/q/hook"));
        var database = new Npgsql.NpgsqlConnectionStringBuilder(_database).Database!;

        // What a network failure or a PostgreSQL restart does to the session holding the lock.
        Assert.Equal("t", postgres.Psql(database,
            $"SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND objid = {(uint)PostgresStateStore.ClaimKey("webhook:default/q/hook")}"));

        Assert.True(_b.TryClaim("webhook:default/q/hook"));
        Assert.False(_a.ClaimsHeld()); // once: what ran under it must stop
        Assert.True(_a.ClaimsHeld());
        Assert.False(_a.TryClaim("webhook:default/q/hook"));
    }
}
