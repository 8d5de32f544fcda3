using System.Text;
using System.Text.Json;
using Gateway.Broker;
using Gateway.Broker.Durability;
using Gateway.Broker.Queues;
using Gateway.Server.Capacity;
using Gateway.Server.Contracts;
using Gateway.Server.Http;
using Gateway.Server.Json;
using Gateway.Server.Security;
using Microsoft.Extensions.Options;

namespace Gateway.Server.Endpoints;

/// <summary>
/// Server-Sent Events: <c>GET /api/vhosts/{vhost}/queues/{queue}/events</c> streams deliveries to EventSource clients.
/// Each delivery is an event <c>delivery</c> whose <c>id</c> is its delivery tag and whose data is the delivery JSON
/// (as <c>get</c> answers). With <c>ackMode=manual</c> (default) deliveries are acknowledged over
/// <c>POST …/queues/{queue}/ack</c> and at most <c>prefetch</c> are outstanding; with <c>auto</c> they are
/// acknowledged once written and flushed. A comment line is sent every <see cref="EventStreamOptions.HeartbeatSeconds"/>
/// (15 s by default) so that proxies keep the stream open and clients can tell a quiet stream from a dead one.
/// </summary>
/// <remarks>
/// Cases: the client disconnects → the subscription is cancelled and its unacknowledged deliveries go back to the
/// queue (redelivered). The client reconnects with <c>Last-Event-ID</c> → the stream starts with an event
/// <c>resumed</c> that says what happened to what it missed: manual deliveries that were not acked were requeued and
/// come again; auto-acked ones after that id cannot be replayed. The queue is deleted, or the user's permissions change
/// so that it may no longer read the queue → an event <c>cancelled</c> (reason <c>queue-deleted</c> or
/// <c>access-refused</c>), then the stream ends and what was not acked goes back to the queue. The backend loses the
/// consumer (a RabbitMQ node or connection went away) → an event <c>suspended</c> (reason <c>backend-unavailable</c>),
/// the stream stays open while the gateway subscribes again (<see cref="Resubscription"/>), then an event
/// <c>restored</c> and deliveries go on; what was not acked comes again, redelivered. The key that opened it is
/// revoked or expires → an event <c>error</c> (reason <c>key-revoked</c>), then likewise. The server stops → the stream ends.
/// </remarks>
internal static class EventStreamEndpoints
{
    public static void MapEventStreamEndpoints(this RouteGroupBuilder api)
    {
        api.MapGet("/vhosts/{vhost}/queues/{queue}/events", async (string vhost, string queue, string? ackMode, int? prefetch,
                HttpContext http, IBroker broker, IHostApplicationLifetime lifetime, IOptions<EventStreamOptions> options,
                IOptions<AuthOptions> auth, Access access, Gateway.Server.Metrics.GatewayMetrics metrics, IOptions<GatewayLimitsOptions> limits,
                ConnectionSlots connections) =>
            {
                if (OriginPolicy.Refusal(http, auth.Value) is { } refused)
                {
                    await refused.ExecuteAsync(http);
                    return;
                }
                var v = await broker.RequireVhostAsync(vhost, http.RequestAborted);
                var q = await v.RequireQueueAsync(queue, http.RequestAborted);
                q.RequireAccess(null);
                var auto = AckModes.Parse(ackMode) == AckMode.Auto;
                var maxPrefetch = limits.Value.MaxPrefetch;
                var window = prefetch ?? Math.Min(100, maxPrefetch);
                if (window < 1 || window > maxPrefetch)
                    throw new BrokerException(BrokerError.InvalidArgument, $"'prefetch' must be from 1 to {maxPrefetch} (Gateway:Limits:MaxPrefetch).");
                using var slot = connections.TryOpen(http, out var tooMany);
                if (slot is null)
                {
                    await tooMany!.ExecuteAsync(http);
                    return;
                }

                var response = http.Response;
                response.ContentType = "text/event-stream";
                response.Headers.CacheControl = "no-cache";
                response.Headers["X-Accel-Buffering"] = "no";
                // A revoked or expired key ends the streams it opened, with an 'error' event saying so.
                var keyLifetime = http.User.FindFirst(Access.KeyClaim)?.Value is { } keyId ? access.Users.KeyLifetime(keyId) : CancellationToken.None;
                // So does a change of the user's permissions that takes away reading the queue, with a 'cancelled' event.
                var readLost = new CancellationTokenSource();
                using var stopping = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted, lifetime.ApplicationStopping, keyLifetime, readLost.Token);
                using var watch = access.WatchRead(http.User, vhost, queue, () => _ = readLost.CancelAsync());
                using var open = metrics.EventStreamOpened();
                var token = stopping.Token;
                var heartbeat = TimeSpan.FromSeconds(options.Value.HeartbeatSeconds);
                var consumer = await q.SubscribeAsync(window, token);
                try
                {
                    if (http.Request.Headers["Last-Event-ID"].ToString() is { Length: > 0 } lastId)
                        await WriteEventAsync(response, "resumed", null, JsonSerializer.Serialize(new ResumedEvent
                        {
                            LastEventId = lastId,
                            Detail = "Deliveries of the previous stream that were not acknowledged went back to the queue and come again, " +
                                     "redelivered. Auto-acknowledged deliveries after this id cannot be replayed.",
                        }, GatewayJsonContext.Default.ResumedEvent), token);
                    else await response.WriteAsync(": connected\n\n", token);
                    await response.Body.FlushAsync(token);

                    var reader = consumer.Deliveries;
                    var queueGone = false;
                    Task<bool>? pending = null; // a wait that outlived a heartbeat is kept, not started again
                    while (!token.IsCancellationRequested)
                    {
                        if (pending is null)
                        {
                            var wait = reader.WaitToReadAsync(token);
                            pending = wait.IsCompleted ? Task.FromResult(wait.Result) : wait.AsTask();
                        }
                        if (!pending.IsCompleted && await Task.WhenAny(pending, Task.Delay(heartbeat, token)) != pending)
                        {
                            await response.WriteAsync(": heartbeat\n\n", token);
                            await response.Body.FlushAsync(token);
                            continue;
                        }
                        var more = await pending;
                        pending = null;
                        if (!more)
                        {
                            // The consumer ended: the queue was deleted, or the backend lost it (then the stream waits
                            // for the backend and goes on with a new consumer; unacked deliveries come again, redelivered).
                            if (consumer.EndReason != ConsumerEndReason.BackendUnavailable) break;
                            await WriteEventAsync(response, "suspended", null, JsonSerializer.Serialize(new CancelledEvent
                            {
                                Reason = "backend-unavailable",
                                Detail = "The broker backend went away; the stream resumes by itself when it is back. Deliveries not acknowledged " +
                                         "come again, redelivered, and their old delivery tags are no longer valid.",
                            }, GatewayJsonContext.Default.CancelledEvent), token);
                            await response.Body.FlushAsync(token);
                            (IBrokerQueue, IBrokerSubscription)? restored;
                            try
                            {
                                restored = await Resubscription.SubscribeAgainAsync(v, queue, window, null, token);
                            }
                            catch (BrokerException e)
                            {
                                // Back, but the queue refuses a consumer now: said as the WebSocket says it, then the stream ends.
                                await WriteEventAsync(response, "cancelled", null, JsonSerializer.Serialize(new CancelledEvent
                                {
                                    Reason = "backend-unavailable", Detail = "The broker backend came back but refused the subscription: " + e.Message,
                                }, GatewayJsonContext.Default.CancelledEvent), CancellationToken.None);
                                await response.Body.FlushAsync(CancellationToken.None);
                                break;
                            }
                            if (restored is not var (again, next))
                            {
                                queueGone = true;
                                break;
                            }
                            (q, consumer, reader) = (again, next, next.Deliveries);
                            await WriteEventAsync(response, "restored", null, "{}", token);
                            await response.Body.FlushAsync(token);
                            continue;
                        }
                        var written = new List<DeliveryTag>();
                        while (reader.TryRead(out var delivery))
                        {
                            var data = JsonSerializer.Serialize(MessageMapping.ToDto(delivery), GatewayJsonContext.Default.DeliveryDto);
                            await WriteEventAsync(response, "delivery", delivery.Tag.ToString(), data, token);
                            written.Add(delivery.Tag);
                        }
                        await response.Body.FlushAsync(token);
                        if (auto) await q.AckAsync(written);
                    }
                    if (queueGone || consumer.EndReason == ConsumerEndReason.QueueDeleted)
                    {
                        await WriteEventAsync(response, "cancelled", null,
                            JsonSerializer.Serialize(new CancelledEvent { Reason = "queue-deleted" }, GatewayJsonContext.Default.CancelledEvent), CancellationToken.None);
                        await response.Body.FlushAsync(CancellationToken.None);
                    }
                }
                catch (OperationCanceledException) when (keyLifetime.IsCancellationRequested && !http.RequestAborted.IsCancellationRequested)
                {
                    await WriteEventAsync(response, "error", null, "{\"reason\":\"key-revoked\",\"detail\":\"The API key that opened this stream was revoked or expired.\"}",
                        CancellationToken.None);
                    await response.Body.FlushAsync(CancellationToken.None);
                }
                catch (OperationCanceledException) when (readLost.IsCancellationRequested && !http.RequestAborted.IsCancellationRequested)
                {
                    await WriteEventAsync(response, "cancelled", null, JsonSerializer.Serialize(new CancelledEvent
                    {
                        Reason = "access-refused",
                        Detail = $"The user may no longer read queue '{queue}' in vhost '{vhost}': its permissions changed.",
                    }, GatewayJsonContext.Default.CancelledEvent), CancellationToken.None);
                    await response.Body.FlushAsync(CancellationToken.None);
                }
                catch (OperationCanceledException)
                {
                    // Client gone or server stopping: the subscription is cancelled below.
                }
                catch (Exception e) when (e is BrokerException or StorageException)
                {
                    // An auto-ack met a deleted queue or could not be stored. The response has started, so no problem
                    // document can be sent: the stream ends, and what was not acknowledged goes back to the queue.
                }
                finally
                {
                    await consumer.CancelAsync();
                }
            })
            .WithTags("Consuming")
            .AcceptsTicket()
            .WithName("StreamEvents").WithSummary("Stream deliveries as Server-Sent Events")
            .WithDescription("Events: 'delivery' (id = delivery tag, data = the delivery JSON), 'resumed' after a reconnect with Last-Event-ID, " +
                             "'cancelled' when the queue is deleted (reason queue-deleted) or the user's permissions change so that it may no longer read " +
                             "the queue (reason access-refused), 'suspended' (data: reason backend-unavailable, detail) when the broker backend lost the subscription and " +
                             "'restored' when it is made again by itself, the stream staying open meanwhile, 'error' when the key that opened the stream is revoked or expires; a comment " +
                             "every Gateway:EventStream:HeartbeatSeconds (default 15 s). Browsers authenticate with ?ticket= (CreateTicket). " +
                             "ackMode=manual (default): ack over POST …/ack, at most " +
                             "'prefetch' (1 to Gateway:Limits:MaxPrefetch, default 100) outstanding; ackMode=auto: acknowledged once written. A disconnect requeues what was not acked. " +
                             "A user holding Gateway:Limits:MaxConnectionsPerUser WebSockets and event streams already gets 429 with Retry-After.")
            .Requires(Permission.Read, "queue")
            .Produces(StatusCodes.Status200OK, contentType: "text/event-stream")
            .ProducesProblem(StatusCodes.Status403Forbidden).ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status429TooManyRequests);
    }

    private static async Task WriteEventAsync(HttpResponse response, string name, string? id, string data, CancellationToken token)
    {
        var text = new StringBuilder();
        if (id is not null) text.Append("id: ").Append(id).Append('\n');
        text.Append("event: ").Append(name).Append('\n');
        text.Append("data: ").Append(data).Append("\n\n");
        await response.WriteAsync(text.ToString(), token);
    }
}

/// <summary>The data of a <c>resumed</c> event.</summary>
public sealed class ResumedEvent
{
    /// <summary>The Last-Event-ID the client reconnected with.</summary>
    public required string LastEventId { get; set; }
    /// <summary>What happened to the deliveries after it.</summary>
    public required string Detail { get; set; }
}

/// <summary>The data of a <c>cancelled</c> event (the stream ends after it) and of a <c>suspended</c> one (the stream waits for the backend).</summary>
public sealed class CancelledEvent
{
    /// <summary><c>queue-deleted</c>; <c>access-refused</c> when the user's permissions no longer let it read the queue; <c>backend-unavailable</c> when the broker backend went away.</summary>
    public required string Reason { get; set; }
    /// <summary>What happened, for people.</summary>
    public string? Detail { get; set; }
}

/// <summary>Server-Sent Events settings, bound from <c>Gateway:EventStream</c>.</summary>
public sealed class EventStreamOptions
{
    /// <summary>
    /// Seconds between heartbeat comments on a quiet stream, 1 to 3600. Proxies close idle responses, and a client only
    /// notices a dead stream when something should have arrived. The default is 15 seconds.
    /// </summary>
    public int HeartbeatSeconds { get; set; } = 15;
}
