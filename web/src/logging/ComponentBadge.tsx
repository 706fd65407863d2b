/**
 * The seed's LogComponentBadge: which part of Quantix wrote a log line, as a coloured badge
 * with an icon, and the legend that explains them (a click on a legend entry filters by it).
 */
import { LoggedButton } from './LoggedButton.js';

export interface ComponentStyle {
  icon: string;
  label: string;
  description: string;
  color: string;
}

export const COMPONENT_STYLES: Record<string, ComponentStyle> = {
  ui: { icon: '☝', label: 'UI', description: 'User actions in the web UI', color: '#7b3fd1' },
  audit: { icon: '⚖', label: 'Audit', description: 'API requests (audit.k8s.io Events)', color: '#8a5a00' },
  apiserver: { icon: '⇄', label: 'API server', description: 'API server (requests, admission, watches)', color: '#1f6fd1' },
  'controller-manager': { icon: '⟳', label: 'Controllers', description: 'Controller manager (reconciles, scheduling)', color: '#0f8a6a' },
  agent: { icon: '⚙', label: 'Agent', description: 'Host agent (libvirt calls, domains, pools)', color: '#c2410c' },
  qxctl: { icon: '›', label: 'qxctl', description: 'Command line client', color: '#475569' },
};

export const KNOWN_COMPONENTS = Object.keys(COMPONENT_STYLES);

export function styleOf(component: string): ComponentStyle {
  return COMPONENT_STYLES[component] ?? { icon: '•', label: component, description: component, color: '#64748b' };
}

export function ComponentBadge({ component, title }: { component: string; title?: string }) {
  const s = styleOf(component);
  return (
    <span
      className="badge log-component"
      style={{ color: s.color, borderColor: s.color }}
      title={title ?? s.description}
      data-testid="component-badge"
      data-component={component}
    >
      <span aria-hidden="true">{s.icon}</span>
      {s.label}
    </span>
  );
}

/** The legend: every known component (and any other seen), each a toggle of the component filter. */
export function ComponentLegend({ seen, selected, onToggle }: { seen: readonly string[]; selected: readonly string[]; onToggle(component: string): void }) {
  const all = [...new Set([...KNOWN_COMPONENTS, ...seen])];
  return (
    <div className="log-legend" data-testid="logs-legend">
      {all.map((c) => {
        const on = selected.includes(c);
        return (
          <LoggedButton
            key={c}
            logAction="filter-component"
            logTarget={c}
            type="button"
            className={`legend-item${on ? ' active' : ''}`}
            aria-pressed={on}
            title={`${styleOf(c).description}: ${on ? 'stop filtering by it' : 'show only this (and other chosen) components'}`}
            onClick={() => onToggle(c)}
            data-testid={`legend-${c}`}
          >
            <ComponentBadge component={c} title={styleOf(c).description} />
            <span className="muted small">{styleOf(c).description}</span>
          </LoggedButton>
        );
      })}
    </div>
  );
}
