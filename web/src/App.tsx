import { BrowserRouter, Route, Routes } from 'react-router';
import { SessionGate } from './auth/session.js';
import { SignIn } from './auth/SignIn.js';
import { Dashboard } from './pages/Dashboard.js';
import { EventsPage } from './pages/EventsPage.js';
import { LogsPage } from './pages/LogsPage.js';
import { ImageCreate } from './pages/ImageCreate.js';
import { ImageDetail } from './pages/ImageDetail.js';
import { ImageList } from './pages/ImageList.js';
import { NetworkCreate } from './pages/NetworkCreate.js';
import { NetworkDetail } from './pages/NetworkDetail.js';
import { NetworkList } from './pages/NetworkList.js';
import { NodeDetail } from './pages/NodeDetail.js';
import { NodeList } from './pages/NodeList.js';
import { NotFound } from './pages/NotFound.js';
import { PoolDetail } from './pages/PoolDetail.js';
import { PoolList } from './pages/PoolList.js';
import { VmCreate } from './pages/VmCreate.js';
import { VmDetail } from './pages/VmDetail.js';
import { VmList } from './pages/VmList.js';
import { ActivityProvider } from './ui/activity.js';
import { ConfirmProvider } from './ui/confirm.js';
import { Layout } from './ui/Layout.js';

/** Routes live under /ui/ (the apiserver serves the app there and falls back to it for these paths). */
export function App() {
  return (
    <BrowserRouter basename="/ui">
      <SessionGate signIn={SignIn}>
        <ActivityProvider>
          <ConfirmProvider>
            <Layout>
              <Routes>
                <Route path="/" element={<Dashboard />} />
                <Route path="/vms" element={<VmList />} />
                <Route path="/vms/new" element={<VmCreate />} />
                <Route path="/vms/:namespace/:name" element={<VmDetail />} />
                <Route path="/nodes" element={<NodeList />} />
                <Route path="/nodes/:name" element={<NodeDetail />} />
                <Route path="/pools" element={<PoolList />} />
                <Route path="/pools/:name" element={<PoolDetail />} />
                <Route path="/images" element={<ImageList />} />
                <Route path="/images/new" element={<ImageCreate />} />
                <Route path="/images/:name" element={<ImageDetail />} />
                <Route path="/networks" element={<NetworkList />} />
                <Route path="/networks/new" element={<NetworkCreate />} />
                <Route path="/networks/:name" element={<NetworkDetail />} />
                <Route path="/events" element={<EventsPage />} />
                <Route path="/logs" element={<LogsPage />} />
                <Route path="*" element={<NotFound />} />
              </Routes>
            </Layout>
          </ConfirmProvider>
        </ActivityProvider>
      </SessionGate>
    </BrowserRouter>
  );
}
