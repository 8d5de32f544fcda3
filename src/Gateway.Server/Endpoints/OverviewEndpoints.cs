using Gateway.Broker;
using Gateway.Server.Contracts;
using Gateway.Server.Security;

namespace Gateway.Server.Endpoints;

internal static class OverviewEndpoints
{
    public static void MapOverviewEndpoints(this RouteGroupBuilder api)
    {
        api.MapGet("/overview", async (IBroker broker, HttpContext http) =>
            {
                var o = await broker.GetOverviewAsync(http.RequestAborted);
                return TypedResults.Ok(new OverviewInfo
                {
                    QueueTotals = new QueueTotals
                    {
                        Messages = o.MessagesReady + o.MessagesUnacknowledged + o.MessagesDelayed,
                        Ready = o.MessagesReady, Unacked = o.MessagesUnacknowledged, Delayed = o.MessagesDelayed,
                    },
                    ObjectTotals = new ObjectTotals { Vhosts = o.Vhosts, Exchanges = o.Exchanges, Queues = o.Queues, Bindings = o.Bindings, Consumers = o.Consumers },
                    Rates = MessageRatesInfo.From(o.Rates),
                });
            })
            .RequiresTag(Access.Administrator, Access.Management, "monitoring").ProducesProblem(StatusCodes.Status403Forbidden)
            .WithTags("Operations").WithName("GetOverview").WithSummary("Counts of messages and objects, and message rates")
            .WithDescription("Rates are per second, averaged over the last Gateway:Statistics:RateWindowSeconds and sampled every " +
                             "Gateway:Statistics:SampleIntervalMilliseconds. Publish counts messages published to exchanges; deliver, ack, " +
                             "redeliver and deadLetter are summed over the queues that exist now. Needs the administrator, management or monitoring tag.");
    }
}
