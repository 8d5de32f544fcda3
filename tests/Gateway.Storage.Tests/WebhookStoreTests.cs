using Gateway.Broker.Durability;
using Gateway.Broker.Queues;
using Gateway.Broker.Topology;
using static Gateway.Storage.Tests.TestMessages;

namespace Gateway.Storage.Tests;

/// <summary>Webhook subscriptions kept with the topology: stored, replaced, deleted, and cascaded with their queue or vhost.</summary>
public sealed class WebhookStoreTests
{
    private static StoredWebhook Hook(string vhost, string queue, string name, string definition = """{"url":"http://example.com/"}""") =>
        new(vhost, queue, name, definition);

    [Fact]
    public async Task A_saved_webhook_is_loaded_after_a_restart_as_it_was_stored()
    {
        await using var temp = new TempStore();
        temp.Broker().GetVhost("default")!.DeclareQueue(new QueueDefinition("q"));
        var disabledAt = new DateTimeOffset(2026, 11, 27, 8, 0, 0, TimeSpan.Zero);
        temp.Store.SaveWebhook(Hook("default", "q", "a") with { DisabledReason = "410 Gone", DisabledAt = disabledAt });
        await temp.RestartAsync();

        var loaded = Assert.Single(temp.Store.LoadWebhooks());

        Assert.Equal(new StoredWebhook("default", "q", "a", """{"url":"http://example.com/"}""", "410 Gone", disabledAt), loaded);
    }

    [Fact]
    public async Task Saving_the_same_name_again_replaces_the_definition_and_status()
    {
        await using var temp = new TempStore();
        temp.Store.SaveWebhook(Hook("default", "q", "a") with { DisabledReason = "gone", DisabledAt = DateTimeOffset.UnixEpoch });
        temp.Store.SaveWebhook(Hook("default", "q", "a", """{"url":"http://example.org/"}"""));

        var loaded = Assert.Single(temp.Store.LoadWebhooks());

        Assert.Equal("""{"url":"http://example.org/"}""", loaded.Definition);
        Assert.Null(loaded.DisabledReason);
        Assert.Null(loaded.DisabledAt);
    }

    [Fact]
    public async Task A_deleted_webhook_is_gone_and_deleting_a_missing_one_is_harmless()
    {
        await using var temp = new TempStore();
        temp.Store.SaveWebhook(Hook("default", "q", "a"));
        temp.Store.SaveWebhook(Hook("default", "q", "b"));

        temp.Store.DeleteWebhook("default", "q", "a");
        temp.Store.DeleteWebhook("default", "q", "never");
        await temp.RestartAsync();

        Assert.Equal("b", Assert.Single(temp.Store.LoadWebhooks()).Name);
    }

    [Fact]
    public async Task Deleting_a_durable_queue_deletes_its_webhooks_in_the_same_transaction()
    {
        await using var temp = new TempStore();
        var vhost = temp.Broker().GetVhost("default")!;
        vhost.DeclareQueue(new QueueDefinition("q"));
        vhost.DeclareQueue(new QueueDefinition("other"));
        temp.Store.SaveWebhook(Hook("default", "q", "a"));
        temp.Store.SaveWebhook(Hook("default", "other", "a"));

        vhost.DeleteQueue("q");

        Assert.Equal("other", Assert.Single(temp.Store.LoadWebhooks()).Queue);
    }

    [Fact]
    public async Task Deleting_a_vhost_deletes_the_webhooks_of_its_queues()
    {
        await using var temp = new TempStore();
        var broker = temp.Broker();
        broker.CreateVhost("v1");
        broker.GetVhost("v1")!.DeclareQueue(new QueueDefinition("q"));
        temp.Store.SaveWebhook(Hook("v1", "q", "a"));
        temp.Store.SaveWebhook(Hook("default", "q", "a"));

        broker.DeleteVhost("v1");

        Assert.Equal("default", Assert.Single(temp.Store.LoadWebhooks()).Vhost);
    }

    [Fact]
    public async Task A_durable_queue_never_gives_a_message_position_twice_across_restarts()
    {
        await using var temp = new TempStore();
        var queue = temp.Broker().GetVhost("default")!.DeclareQueue(new QueueDefinition("q")).Queue;
        await queue.VirtualHost.PublishAsync("", Text("first", "q"));
        var first = Assert.Single(queue.Take(1, TimeSpan.FromMinutes(1)));
        await queue.AckAsync([first.Tag]);
        await temp.FlushAsync();
        await temp.RestartAsync();

        var again = temp.Broker().GetVhost("default")!.GetQueue("q")!;
        await again.VirtualHost.PublishAsync("", Text("second", "q"));
        var second = Assert.Single(again.Take(1, TimeSpan.FromMinutes(1)));

        Assert.True(second.Sequence > first.Sequence, $"position {second.Sequence} after the restart, {first.Sequence} before");
    }

    [Fact]
    public async Task A_redelivered_message_keeps_its_position_after_a_restart()
    {
        await using var temp = new TempStore();
        var queue = temp.Broker().GetVhost("default")!.DeclareQueue(new QueueDefinition("q")).Queue;
        await queue.VirtualHost.PublishAsync("", Text("m", "q"));
        var before = Assert.Single(queue.Take(1, TimeSpan.FromMinutes(1)));
        await temp.FlushAsync();
        await temp.RestartAsync();

        var after = Assert.Single(temp.Broker().GetVhost("default")!.GetQueue("q")!.Take(1, TimeSpan.FromMinutes(1)));

        Assert.True(after.Redelivered);
        Assert.Equal(before.Sequence, after.Sequence);
    }
}
