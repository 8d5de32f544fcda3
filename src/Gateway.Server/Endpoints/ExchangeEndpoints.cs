using Gateway.Broker;
using Gateway.Broker.Exchanges;
using Gateway.Broker.Topology;
using Gateway.Server.Contracts;
using Gateway.Server.Http;
using Gateway.Server.Security;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Gateway.Server.Endpoints;

internal static class ExchangeEndpoints
{
    public static void MapExchangeEndpoints(this RouteGroupBuilder api)
    {
        var exchanges = api.MapGroup("/vhosts/{vhost}/exchanges").WithTags("Exchanges");

        exchanges.MapGet("", async (string vhost, IBroker broker, HttpContext http) =>
            {
                var v = await broker.RequireVhostAsync(vhost, http.RequestAborted);
                return TypedResults.Ok((await v.ListExchangesAsync(http.RequestAborted)).Select(x => ToInfo(v, x.Definition, x.Rates)).ToList());
            })
            .RequiresVhostAccess()
            .WithName("ListExchanges").WithSummary("List exchanges").ProducesProblem(StatusCodes.Status404NotFound);

        exchanges.MapGet("/{exchange}", async Task<Results<Ok<ExchangeInfo>, ProblemHttpResult>> (string vhost, string exchange, IBroker broker, HttpContext http) =>
            {
                var v = await broker.RequireVhostAsync(vhost, http.RequestAborted);
                return await v.GetExchangeAsync(MessageMapping.ExchangeName(exchange), http.RequestAborted) is { } x
                    ? TypedResults.Ok(ToInfo(v, x.Definition, x.Rates))
                    : Problems.NotFound($"No exchange '{exchange}' in vhost '{vhost}'.");
            })
            .RequiresVhostAccess()
            .WithName("GetExchange").WithSummary("Read an exchange").ProducesProblem(StatusCodes.Status404NotFound);

        exchanges.MapPut("/{exchange}", async Task<Results<Created<ExchangeInfo>, Ok<ExchangeInfo>>> (string vhost, string exchange, ExchangeDeclareRequest request,
                IBroker broker, HttpContext http) =>
            {
                var v = await broker.RequireVhostAsync(vhost, http.RequestAborted);
                var definition = new ExchangeDefinition(MessageMapping.ExchangeName(exchange), ToEngine(request.Type), request.Durable,
                    request.AutoDelete, request.Internal, request.Arguments);
                var outcome = await v.DeclareExchangeAsync(definition, http.RequestAborted);
                // Just declared: it has moved no messages yet (and may already be gone, deleted concurrently).
                var info = ToInfo(v, definition, Broker.Statistics.ExchangeRates.Zero);
                return outcome == DeclareOutcome.Created
                    ? TypedResults.Created($"/api/vhosts/{Uri.EscapeDataString(vhost)}/exchanges/{Uri.EscapeDataString(exchange)}", info)
                    : TypedResults.Ok(info);
            })
            .Validate<ExchangeDeclareRequest>()
            .Requires(Permission.Configure, "exchange")
            .WithName("DeclareExchange").WithSummary("Declare an exchange (idempotent)")
            .WithDescription("201 when created; 200 when an equivalent exchange exists; 409 when one exists with a different definition " +
                             "(nothing changes); 403 for new names starting with 'amq.' and for the default exchange.")
            .ProducesProblem(StatusCodes.Status403Forbidden).ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status409Conflict);

        exchanges.MapDelete("/{exchange}", async (string vhost, string exchange, bool? ifUnused, IBroker broker, HttpContext http) =>
            {
                var v = await broker.RequireVhostAsync(vhost, http.RequestAborted);
                await v.DeleteExchangeAsync(MessageMapping.ExchangeName(exchange), ifUnused ?? false, http.RequestAborted);
                return TypedResults.NoContent();
            })
            .Requires(Permission.Configure, "exchange")
            .WithName("DeleteExchange").WithSummary("Delete an exchange and its bindings")
            .WithDescription("With ifUnused=true, refuses (409) while the exchange is the source of any binding.")
            .ProducesProblem(StatusCodes.Status403Forbidden).ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status409Conflict);
    }

    private static ExchangeType ToEngine(ExchangeKind kind) => kind switch
    {
        ExchangeKind.Direct => ExchangeType.Direct,
        ExchangeKind.Fanout => ExchangeType.Fanout,
        ExchangeKind.Topic => ExchangeType.Topic,
        _ => ExchangeType.Headers,
    };

    private static ExchangeKind ToApi(ExchangeType type) => type switch
    {
        ExchangeType.Direct => ExchangeKind.Direct,
        ExchangeType.Fanout => ExchangeKind.Fanout,
        ExchangeType.Topic => ExchangeKind.Topic,
        _ => ExchangeKind.Headers,
    };

    private static ExchangeInfo ToInfo(IBrokerVhost vhost, ExchangeDefinition x, Broker.Statistics.ExchangeRates rates) => new()
    {
        Name = MessageMapping.ApiExchangeName(x.Name),
        Vhost = vhost.Name,
        Type = ToApi(x.Type),
        Durable = x.Durable,
        AutoDelete = x.AutoDelete,
        Internal = x.Internal,
        Arguments = x.Arguments ?? new Dictionary<string, object?>(),
        Rates = ExchangeRatesInfo.From(rates),
    };
}
