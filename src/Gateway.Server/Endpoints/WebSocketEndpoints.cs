using FluentValidation;
using Gateway.Broker;
using Gateway.Server.Capacity;
using Gateway.Server.Contracts;
using Gateway.Server.Http;
using System.Net.WebSockets;
using Gateway.Server.Security;
using Gateway.Server.Metrics;
using Gateway.Server.WebSockets;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Options;

namespace Gateway.Server.Endpoints;

internal static class WebSocketEndpoints
{
    public static void MapWebSocketEndpoints(this RouteGroupBuilder api)
    {
        api.MapGet("/vhosts/{vhost}/ws", async (string vhost, HttpContext http, IBroker broker, IValidator<PublishRequest> validator,
                IOptions<JsonOptions> json, IOptions<GatewayLimitsOptions> limits, IOptions<AuthOptions> auth, Access access,
                IHostApplicationLifetime lifetime, GatewayMetrics metrics, ConnectionSlots connections, MemoryAlarm memory) =>
            {
                if (OriginPolicy.Refusal(http, auth.Value) is { } refused) return refused;
                var v = await broker.RequireVhostAsync(vhost, http.RequestAborted);
                if (!http.WebSockets.IsWebSocketRequest)
                    return (IResult)Problems.BadRequest("This endpoint speaks WebSocket (subprotocol gateway.v1.json): send an upgrade request.");
                using var slot = connections.TryOpen(http, out var tooMany);
                if (slot is null) return tooMany!;
                var protocol = http.WebSockets.WebSocketRequestedProtocols.Contains(SocketSession.SubProtocol) ? SocketSession.SubProtocol : null;
                using var socket = await http.WebSockets.AcceptWebSocketAsync(protocol);
                using var open = metrics.WebSocketOpened();
                var user = http.User;
                var session = new SocketSession(socket, v, validator, json.Value.SerializerOptions, limits.Value, memory)
                {
                    Authorize = (permission, resource) => access.Denial(user, vhost, permission, resource),
                    WatchRead = (queue, lost) => access.WatchRead(user, vhost, queue, lost),
                    Features = broker.Features,
                };
                // A revoked or expired key ends the sockets it opened, not only its next request.
                using var revoked = user.FindFirst(Access.KeyClaim)?.Value is { } keyId
                    ? access.Users.KeyLifetime(keyId).Register(() => _ = session.CloseAsync(WebSocketCloseStatus.PolicyViolation, "The API key was revoked or expired."))
                    : default;
                // Shutdown: a close frame 1001 (going away); the client's answer ends RunAsync, or the socket is aborted.
                using var stopping = lifetime.ApplicationStopping.Register(() =>
                    _ = session.CloseAsync(WebSocketCloseStatus.EndpointUnavailable, "The gateway is shutting down."));
                await session.RunAsync(http.RequestAborted);
                return Results.Empty;
            })
            .WithTags("Consuming")
            .AcceptsTicket()
            .RequiresVhostAccess()
            .WithName("OpenWebSocket").WithSummary("Open a WebSocket (subprotocol gateway.v1.json) for subscriptions, acks and publishes")
            .WithDescription("The protocol is documented in openapi/asyncapi.yaml and docs/websocket-protocol.md. A request without an upgrade answers 400. " +
                             "Browsers authenticate with ?ticket= (CreateTicket); an Origin other than the server's own or Gateway:Auth:AllowedOrigins answers 403. " +
                             "The socket closes with 1008 when the key that opened it is revoked or expires. A user holding " +
                             "Gateway:Limits:MaxConnectionsPerUser WebSockets and event streams already gets 429 with Retry-After.")
            .ProducesProblem(StatusCodes.Status403Forbidden).ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status429TooManyRequests);
    }
}
