using FluentValidation;
using Gateway.Broker;
using Gateway.Server.Contracts;
using Gateway.Server.Http;
using Gateway.Server.WebSockets;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Options;

namespace Gateway.Server.Endpoints;

internal static class WebSocketEndpoints
{
    public static void MapWebSocketEndpoints(this RouteGroupBuilder api)
    {
        api.MapGet("/vhosts/{vhost}/ws", async (string vhost, HttpContext http, MessageBroker broker, IValidator<PublishRequest> validator,
                IOptions<JsonOptions> json, IOptions<GatewayLimitsOptions> limits) =>
            {
                var v = broker.RequireVhost(vhost);
                if (!http.WebSockets.IsWebSocketRequest)
                    return (IResult)Problems.BadRequest("This endpoint speaks WebSocket (subprotocol gateway.v1.json): send an upgrade request.");
                var protocol = http.WebSockets.WebSocketRequestedProtocols.Contains(SocketSession.SubProtocol) ? SocketSession.SubProtocol : null;
                using var socket = await http.WebSockets.AcceptWebSocketAsync(protocol);
                await new SocketSession(socket, v, validator, json.Value.SerializerOptions, limits.Value).RunAsync(http.RequestAborted);
                return Results.Empty;
            })
            .WithTags("Consuming")
            .WithName("OpenWebSocket").WithSummary("Open a WebSocket (subprotocol gateway.v1.json) for subscriptions, acks and publishes")
            .WithDescription("The protocol is documented in openapi/asyncapi.yaml and docs/websocket-protocol.md. A request without an upgrade answers 400.")
            .ProducesProblem(StatusCodes.Status404NotFound);
    }
}
