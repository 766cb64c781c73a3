import { apiClient } from './apiClient';

export interface ExportFilters {
  type?: string;
  format?: string;
  status?: string;
  date_from?: string;
  date_to?: string;
  created_by?: string;
  page?: number;
  limit?: number;
  sort_by?: string;
  sort_order?: string;
}

export interface ExportData {
  export_name: string;
  export_type: string;
  format: string;
  filters?: any;
  columns?: string[];
  recipients?: string[];
}

export class ExportsService {
  static async getExports(filters: ExportFilters = {}) {
    const params = new URLSearchParams();
    
    Object.entries(filters).forEach(([key, value]) => {
      if (value !== undefined) {
        params.append(key, value.toString());
      }
    });

    const response = await apiClient.get(`/api/v1/exports?${params.toString()}`);
    return response.data;
  }

  static async createExport(exportData: ExportData) {
    const response = await apiClient.post('/api/v1/exports', exportData);
    return response.data;
  }

  static async getExport(id: string, includeDetails: boolean = false) {
    const response = await apiClient.get(`/api/v1/exports/${id}?include_details=${includeDetails}`);
    return response.data;
  }

  static async downloadExport(id: string) {
    const response = await apiClient.get(`/api/v1/exports/${id}/download`);
    return response.data;
  }

  static async executeExport(exportData: ExportData) {
    const response = await apiClient.post('/api/v1/exports/execute', exportData);
    return response.data;
  }

  static async executeExportByType(type: string, options: any) {
    const response = await apiClient.post(`/api/v1/exports/execute/${type}`, options);
    return response.data;
  }

  static async getExportStatus(id: string) {
    const response = await apiClient.get(`/api/v1/exports/status/${id}`);
    return response.data;
  }

  static async cancelExport(id: string) {
    const response = await apiClient.post(`/api/v1/exports/${id}/cancel`);
    return response.data;
  }

  static async retryExport(id: string) {
    const response = await apiClient.post(`/api/v1/exports/${id}/retry`);
    return response.data;
  }

  static async getSchedules(filters: any = {}) {
    const params = new URLSearchParams();
    
    Object.entries(filters).forEach(([key, value]) => {
      if (value !== undefined) {
        params.append(key, value.toString());
      }
    });

    const response = await apiClient.get(`/api/v1/exports/schedules?${params.toString()}`);
    return response.data;
  }

  static async createSchedule(scheduleData: any) {
    const response = await apiClient.post('/api/v1/exports/schedules', scheduleData);
    return response.data;
  }

  static async getTemplates() {
    const response = await apiClient.get('/api/v1/exports/templates');
    return response.data;
  }

  static async getExportTypes() {
    const response = await apiClient.get('/api/v1/exports/types');
    return response.data;
  }

  static async getStatistics(filters: any = {}) {
    const params = new URLSearchParams();
    
    Object.entries(filters).forEach(([key, value]) => {
      if (value !== undefined) {
        params.append(key, value.toString());
      }
    });

    const response = await apiClient.get(`/api/v1/exports/statistics?${params.toString()}`);
    return response.data;
  }
}
