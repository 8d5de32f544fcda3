using Gateway.Broker.Queues;
using Gateway.Storage.Topology;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;
using static Gateway.Storage.Tests.TestMessages;

namespace Gateway.Storage.Tests;

/// <summary>Opening a database written by an older version upgrades it in place.</summary>
public sealed class MigrationTests
{
    private const string FirstMigration = "20261127054905_InitialTopology";
    private const string LatestMigration = "20261207113500_InlineQueueMessages";

    /// <summary>Creates the file with the first migration only, then inserts a queue row the way that version stored it.</summary>
    private static void CreateFirstVersionDatabase(TempStore temp)
    {
        Directory.CreateDirectory(temp.Options.DataPath);
        var connectionString = new SqliteConnectionStringBuilder { DataSource = temp.DatabasePath, Pooling = false }.ToString();
        using (var db = new GatewayDbContext(new DbContextOptionsBuilder<GatewayDbContext>().UseSqlite(connectionString).Options))
            db.GetService<IMigrator>().Migrate(FirstMigration);
        temp.Execute("""
            INSERT INTO vhosts (Name) VALUES ('default');
            INSERT INTO queues (Vhost, Name, QueueId, Exclusive, AutoDelete, Arguments) VALUES ('default', 'old', 4242, 0, 0, NULL);
            """);
    }

    private static bool TableExists(TempStore temp, string table) =>
        temp.Scalar($"SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '{table}'") == 1;

    [Fact]
    public async Task A_database_of_the_first_version_has_no_journal_tables()
    {
        await using var temp = new TempStore();
        CreateFirstVersionDatabase(temp);

        Assert.False(TableExists(temp, "messages"));
        Assert.False(TableExists(temp, "queue_messages"));
        Assert.Equal(1, temp.Count("__EFMigrationsHistory"));
    }

    [Fact]
    public async Task Opening_a_database_of_the_first_version_upgrades_it_to_the_latest_schema()
    {
        await using var temp = new TempStore();
        CreateFirstVersionDatabase(temp);

        _ = temp.Store;

        Assert.True(TableExists(temp, "messages"));
        Assert.True(TableExists(temp, "queue_messages"));
        Assert.Equal(1, temp.Count("__EFMigrationsHistory", $"MigrationId = '{LatestMigration}'"));
        Assert.Equal(6, temp.Count("__EFMigrationsHistory"));
        Assert.Equal(1, temp.Scalar("SELECT COUNT(*) FROM pragma_table_info('queue_messages') WHERE name = 'expires_at'"));
        Assert.Equal(1, temp.Scalar("SELECT COUNT(*) FROM pragma_table_info('queue_messages') WHERE name = 'not_before'"));
        Assert.True(TableExists(temp, "webhooks"));
    }

    [Fact]
    public async Task A_queue_stored_by_the_first_version_survives_the_upgrade_and_keeps_persistent_messages()
    {
        await using var temp = new TempStore();
        CreateFirstVersionDatabase(temp);

        var vhost = temp.Broker().GetVhost("default")!;
        var old = vhost.GetQueue("old");
        Assert.NotNull(old);
        Assert.Equal(4242, old.DurableId);
        for (var i = 0; i < 3; i++) await vhost.PublishAsync("", Text($"m{i}", "old"));
        Assert.Equal(3, temp.Count("queue_messages", "queue_id = 4242"));
        await temp.RestartAsync();

        var again = temp.Broker(out var recovered).GetVhost("default")!.GetQueue("old")!;
        Assert.Equal(3, recovered.Messages);
        Assert.Equal(["m0", "m1", "m2"], again.Take(10, TimeSpan.FromMinutes(1)).Select(d => d.Message.Text()));
    }

    [Fact]
    public async Task A_new_queue_declared_after_the_upgrade_recovers_its_persistent_messages()
    {
        await using var temp = new TempStore();
        CreateFirstVersionDatabase(temp);
        var vhost = temp.Broker().GetVhost("default")!;
        vhost.DeclareQueue(new QueueDefinition("new"));
        await vhost.PublishAsync("", Text("hello", "new"));
        await temp.RestartAsync();

        var again = temp.Broker().GetVhost("default")!;

        Assert.Equal("hello", Assert.Single(again.GetQueue("new")!.Take(10, TimeSpan.FromMinutes(1))).Message.Text());
        Assert.NotNull(again.GetQueue("old"));
    }
}
