using Gateway.Broker;
using Gateway.Broker.Queues;

namespace Gateway.Server.Http;

/// <summary>
/// Makes a subscription's consumer again after the backend lost it (<see cref="ConsumerEndReason.BackendUnavailable"/>:
/// the RabbitMQ node or connection holding it went away), on the client's behalf: the WebSocket subscription and the
/// event stream go on under the same id once the backend answers again.
/// </summary>
/// <remarks>
/// It tries at once, then after 100 ms, doubling up to 5 s between tries, for as long as
/// the caller's cancellation token lets it: the socket or stream is open, and the client did not cancel.
/// </remarks>
internal static class Resubscription
{
    private static readonly TimeSpan FirstDelay = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan LongestDelay = TimeSpan.FromSeconds(5);

    /// <summary>
    /// The queue and its new consumer; null when the queue (or its vhost) no longer exists, which the caller tells the
    /// client as the deletion of the queue.
    /// </summary>
    /// <exception cref="BrokerException">The queue is there but refuses the subscription (e.g. another connection's exclusive queue).</exception>
    /// <exception cref="OperationCanceledException">The socket, the stream or the subscription ended meanwhile.</exception>
    public static async Task<(IBrokerQueue Queue, IBrokerSubscription Consumer)?> SubscribeAgainAsync(IBrokerVhost vhost, string queue, int prefetch,
        object? owner, CancellationToken cancellationToken)
    {
        var delay = FirstDelay;
        while (true)
        {
            try
            {
                if (await vhost.GetQueueAsync(queue, cancellationToken) is not { } found) return null;
                found.RequireAccess(owner);
                return (found, await found.SubscribeAsync(prefetch, cancellationToken));
            }
            catch (BrokerException e) when (e.Error == BrokerError.NotFound)
            {
                return null; // the queue went between the lookup and the subscribe, or the vhost went
            }
            catch (BrokerUnavailableException)
            {
                await Task.Delay(delay, cancellationToken);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, LongestDelay.Ticks));
            }
        }
    }
}
