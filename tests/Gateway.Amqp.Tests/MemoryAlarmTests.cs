using Gateway.Server.Capacity;
using RabbitMQ.Client;

namespace Gateway.Amqp.Tests;

/// <summary>A gateway whose memory alarm the tests raise and clear by hand (its own sampling is slowed to once an hour).</summary>
public sealed class MemoryAlarmAmqpGateway : AmqpGateway
{
    public MemoryAlarmAmqpGateway() => Settings["Gateway:Limits:MemorySampleMilliseconds"] = "3600000";
}

public sealed class MemoryAlarmTests(MemoryAlarmAmqpGateway gateway) : IClassFixture<MemoryAlarmAmqpGateway>
{
    [Fact]
    public async Task A_publisher_is_blocked_while_the_memory_alarm_is_raised_and_its_message_goes_through_once_it_clears()
    {
        await using var s = await gateway.SessionAsync();
        var blocked = new TaskCompletionSource<string>();
        var unblocked = new TaskCompletionSource();
        s.Connection.ConnectionBlockedAsync += (_, e) =>
        {
            blocked.TrySetResult(e.Reason);
            return Task.CompletedTask;
        };
        s.Connection.ConnectionUnblockedAsync += (_, _) =>
        {
            unblocked.TrySetResult();
            return Task.CompletedTask;
        };
        var alarm = gateway.Service<MemoryAlarm>();
        alarm.Observe(alarm.Watermark + 1);
        try
        {
            await s.Channel.BasicPublishAsync("", s.Queue, "held"u8.ToArray());
            Assert.Contains("memory", await blocked.Task.WaitAsync(Inbox.Deadline));
            Assert.Equal(0, (await s.QueueInfoAsync()).MessagesReady);
        }
        finally
        {
            alarm.Observe(0);
        }
        await unblocked.Task.WaitAsync(Inbox.Deadline);
        await s.WaitForQueueAsync(q => q.MessagesReady == 1, "the held message to be published once the alarm cleared");
    }
}
