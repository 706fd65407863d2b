import { Link } from 'react-router';

export function NotFound() {
  return (
    <div className="card">
      <h1>Not found</h1>
      <p>
        There is no page here. <Link to="/">Go to the dashboard</Link>.
      </p>
    </div>
  );
}
