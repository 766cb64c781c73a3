// Drives the seed's ExportsService, unchanged, through one export's life; prints what each call
// returned as one JSON document for tests/test_seed_client.py to check.
import { ExportsService } from './exportsService';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function main(): Promise<void> {
  const seen: Record<string, unknown> = {};
  seen.types = await ExportsService.getExportTypes();
  const created = await ExportsService.createExport({
    export_name: 'Seed client sales',
    export_type: 'sales',
    format: 'csv',
    columns: [],
    recipients: ['ana@corp.local'],
  });
  seen.created = created;
  const id = created.data.id as string;
  let status = await ExportsService.getExportStatus(id);
  for (let polls = 0; ['pending', 'processing'].includes(status.data.status) && polls < 600; polls++) {
    await sleep(100);
    status = await ExportsService.getExportStatus(id);
  }
  seen.status = status;
  seen.export = await ExportsService.getExport(id, true);
  seen.download = await ExportsService.downloadExport(id);
  seen.list = await ExportsService.getExports({ type: 'sales', page: 1, limit: 5, sort_by: 'created_at' });
  seen.executed = await ExportsService.executeExport({
    export_name: 'Seed now',
    export_type: 'inventory',
    format: 'json',
  });
  // A long sales PDF (the stack's big warehouse): still running when it is cancelled.
  const byType = await ExportsService.executeExportByType('sales', { format: 'pdf' });
  seen.byType = byType;
  seen.cancelled = await ExportsService.cancelExport(byType.data.id);
  const retried = await ExportsService.retryExport(byType.data.id);
  seen.retried = retried;
  await ExportsService.cancelExport(retried.data.id);
  seen.templates = await ExportsService.getTemplates();
  seen.schedules = await ExportsService.getSchedules({ page: 1, limit: 5 });
  seen.statistics = await ExportsService.getStatistics({});
  process.stdout.write(JSON.stringify(seen));
}

main().catch((error: unknown) => {
  const response = (error as { response?: { status: number; data: unknown } }).response;
  process.stderr.write(response ? `${response.status} ${JSON.stringify(response.data)}\n` : `${String(error)}\n`);
  process.exit(1);
});
