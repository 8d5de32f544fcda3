using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using RabbitMQ.Client.Exceptions;

namespace Gateway.Amqp.Tests;

internal static class AmqpAssert
{
    /// <summary>Asserts that <paramref name="operation"/> fails because the server closed the channel (or connection) with <paramref name="code"/>.</summary>
    public static async Task<ShutdownEventArgs> ClosedWithAsync(ushort code, Func<Task> operation)
    {
        var e = await Assert.ThrowsAnyAsync<OperationInterruptedException>(operation);
        Assert.NotNull(e.ShutdownReason);
        Assert.True(code == e.ShutdownReason!.ReplyCode, $"Expected reply code {code}, got {e.ShutdownReason.ReplyCode}: {e.ShutdownReason.ReplyText}");
        return e.ShutdownReason;
    }

    /// <summary>Waits until <paramref name="condition"/> holds (polling), failing after the deadline.</summary>
    public static async Task EventuallyAsync(Func<Task<bool>> condition, string what)
    {
        var started = System.Diagnostics.Stopwatch.StartNew();
        while (!await condition())
        {
            if (started.Elapsed > Inbox.Deadline) Assert.Fail($"Gave up after {Inbox.Deadline.TotalSeconds} s waiting for {what}.");
            await Task.Delay(20);
        }
    }
}
