using Gateway.Server.Contracts;
using Gateway.Server.Definitions;
using Gateway.Server.Http;
using Gateway.Server.Security;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Gateway.Server.Endpoints;

internal static class DefinitionsEndpoints
{
    public static void MapDefinitionsEndpoints(this RouteGroupBuilder api)
    {
        // Definitions span every vhost: administrators only.
        var definitions = api.MapGroup("/definitions").WithTags("Operations")
            .RequiresTag(Access.Administrator).ProducesProblem(StatusCodes.Status403Forbidden);

        definitions.MapGet("", async (DefinitionsService service, HttpContext http) => TypedResults.Ok(await service.ExportAsync(http.RequestAborted)))
            .WithName("ExportDefinitions").WithSummary("Export vhosts, exchanges, queues and bindings in RabbitMQ's definitions format")
            .WithDescription("Field names are RabbitMQ's (vhosts, exchanges, queues, bindings; vhost, name, type, durable, auto_delete, internal, " +
                             "arguments, source, destination, destination_type, routing_key), so the file also loads into RabbitMQ. The vhost " +
                             "'default' is written as '/', RabbitMQ's default vhost. The default and amq.* exchanges are left out.");

        definitions.MapPost("", async Task<Results<Ok<DefinitionsImportReport>, ProblemHttpResult>> (DefinitionsDocument document, bool? allOrNothing,
                bool? dryRun, DefinitionsService service, HttpContext http) =>
            {
                var report = await service.ImportAsync(document, allOrNothing ?? false, dryRun ?? false, http.RequestAborted);
                if (allOrNothing == true && !report.Applied && dryRun != true)
                {
                    var problem = Problems.Problem(StatusCodes.Status422UnprocessableEntity, "definitions-refused",
                        $"{report.Summary.Refused} item(s) were refused, so nothing was imported (allOrNothing=true); the first: " +
                        FirstRefusal(report) + " The report lists every item.");
                    problem.ProblemDetails.Extensions["report"] = report;
                    return problem;
                }
                return TypedResults.Ok(report);
            })
            .RequiresUtf8Body() // unknown members are skipped unread: check the bytes they are made of too
            .WithName("ImportDefinitions").WithSummary("Import a definitions file (RabbitMQ's format) in one transaction")
            .WithDescription("Idempotent: importing the same file again reports every item as existed. RabbitMQ's vhost '/' is Gateway's " +
                             "'default'. Each item is checked as its own declaration would be; refused items are reported with the reason and the " +
                             "rest is imported in one transaction (a storage failure answers 503 and imports nothing). allOrNothing=true: one " +
                             "refused item refuses the whole file (422, with the report as 'report'). dryRun=true: reports what would happen and " +
                             "changes nothing. users, permissions, policies and parameters are reported as ignored.")
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity);
    }

    private static string FirstRefusal(DefinitionsImportReport report) =>
        report.Vhosts.Concat(report.Exchanges).Concat(report.Queues).Where(r => r.Outcome == ImportItemOutcome.Refused)
            .Select(r => $"'{r.Name}' in vhost '{r.Vhost}': {r.Reason}")
            .Concat(report.Bindings.Where(b => b.Outcome == ImportItemOutcome.Refused)
                .Select(b => $"binding {b.Source} -> {b.Destination} ('{b.RoutingKey}') in vhost '{b.Vhost}': {b.Reason}"))
            .First();
}
